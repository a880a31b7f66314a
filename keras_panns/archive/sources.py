"""The audio files of an archive: listing sources (folders, globs, lists, `s3://`) and reading one.

Local paths and `s3://` URLs both go through `pyarrow.fs` (already installed
with Ray Data), so an S3 archive needs nothing else: the endpoint comes from
`s3_endpoint` or `$AWS_ENDPOINT_URL_S3` / `$AWS_ENDPOINT_URL` (e.g. MinIO or a
local test server), credentials and region from the usual `AWS_*` variables.

Example:
```python
files = list_sources(["recordings/", "more/*.flac", "s3://bucket/field/"])
files.num_rows, files.column_names    # 12873, ['path', 'size', 'mtime']
with local_copy("s3://bucket/field/a.wav") as path:
    audio = keras_panns.audio.AudioFile(path)
```
"""

import contextlib
import csv
import glob
import os
import tempfile

from keras_panns.audio import AUDIO_EXTENSIONS
from keras_panns.errors import ArchiveError

LIST_EXTENSIONS = (".txt", ".csv", ".lst")


def s3_filesystem(endpoint=None):
    """A `pyarrow.fs.S3FileSystem` for `endpoint` (default: `$AWS_ENDPOINT_URL_S3` or `$AWS_ENDPOINT_URL`)."""
    from pyarrow import fs

    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    kwargs = {"region": os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"}
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        kwargs.update(endpoint_override=rest or scheme, scheme=scheme if rest else "https")
    return fs.S3FileSystem(**kwargs)


def _is_audio(name):
    return name.lower().endswith(AUDIO_EXTENSIONS)


def _list_s3(url, endpoint):
    from pyarrow import fs

    s3 = s3_filesystem(endpoint)
    key = url[len("s3://") :].rstrip("/")
    try:
        info = s3.get_file_info(key)
        if info.type == fs.FileType.File:
            return [(url, info.size, info.mtime.timestamp() if info.mtime else 0.0)]
        if info.type == fs.FileType.NotFound and "/" not in key:
            raise ArchiveError(f"{url}: no such bucket")
        found = s3.get_file_info(fs.FileSelector(key, recursive=True, allow_not_found=True))
    except OSError as exc:
        raise ArchiveError(f"{url}: cannot list ({exc})") from exc
    return [
        (f"s3://{entry.path}", entry.size, entry.mtime.timestamp() if entry.mtime else 0.0)
        for entry in found
        if entry.type == fs.FileType.File and _is_audio(entry.path)
    ]


def _stat(path):
    try:
        status = os.stat(path)
    except OSError:
        return path, -1, 0.0  # missing or unreadable: reported as an error of this file when it is read
    return path, status.st_size, status.st_mtime


def _list_file(path):
    with open(path, encoding="utf-8", newline="") as f:
        if path.lower().endswith(".csv"):
            rows = list(csv.DictReader(f))
            if rows and "path" not in rows[0]:
                raise ArchiveError(f"{path}: a CSV list needs a 'path' column (it has {', '.join(rows[0])})")
            return [row["path"].strip() for row in rows if row["path"].strip()]
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def _expand(source, endpoint, recursive, from_list=False):
    if source.startswith("s3://"):
        return _list_s3(source, endpoint)
    if os.path.isdir(source):
        pattern = os.path.join(source, "**", "*") if recursive else os.path.join(source, "*")
        return [_stat(p) for p in sorted(glob.glob(pattern, recursive=recursive)) if _is_audio(p) and os.path.isfile(p)]
    if not from_list and source.lower().endswith(LIST_EXTENSIONS) and os.path.isfile(source):
        entries = []
        for item in _list_file(source):
            entries += _expand(item, endpoint, recursive, from_list=True)
        return entries
    if glob.has_magic(source):
        return [_stat(p) for p in sorted(glob.glob(source, recursive=True)) if os.path.isfile(p)]
    return [_stat(source)]  # a file named directly: indexed, or reported if it cannot be read


def list_sources(sources, *, recursive=True, s3_endpoint=None):
    """Every audio file the sources name, once each, as a `pyarrow.Table` (path, size, mtime).

    Args:
        sources: iterable of str: directories (their audio files, by extension), glob patterns, files,
            lists (`.txt`/`.lst`: one path per line; `.csv`: a `path` column) and `s3://bucket/prefix` URLs.
        recursive: bool. Directories include their subdirectories.
        s3_endpoint: str or None. The S3 endpoint URL for `s3://` sources.

    Returns:
        `pyarrow.Table` with columns path (string), size (int64; -1 for a file that cannot be
        stat'ed, which is then reported as an error), mtime (float64).

    Raises:
        ArchiveError: a source matches no audio file, or a list or bucket cannot be read.

    Example:
    ```python
    list_sources(["archive/"]).to_pandas().head()
    ```
    """
    import pyarrow as pa

    seen, paths, sizes, mtimes = set(), [], [], []
    for source in sources:
        source = os.fspath(source)
        try:
            entries = _expand(source, s3_endpoint, recursive)
        except OSError as exc:
            raise ArchiveError(f"{source}: cannot read ({exc.strerror or exc})") from exc
        if not entries:
            raise ArchiveError(f"{source}: matches no audio file (looked for {', '.join(AUDIO_EXTENSIONS[:6])}, ...)")
        for path, size, mtime in entries:
            if path not in seen:
                seen.add(path)
                paths.append(path)
                sizes.append(int(size))
                mtimes.append(float(mtime))
    return pa.table(
        {
            "path": pa.array(paths, pa.string()),
            "size": pa.array(sizes, pa.int64()),
            "mtime": pa.array(mtimes, pa.float64()),
        }
    )


@contextlib.contextmanager
def local_copy(path, s3_endpoint=None):
    """A local path for `path`: itself, or for an `s3://` URL a temporary download removed afterwards.

    Raises:
        AudioError: the object cannot be downloaded (the message names the URL).
    """
    from keras_panns.errors import AudioError

    if not path.startswith("s3://"):
        yield path
        return
    s3 = s3_filesystem(s3_endpoint)
    suffix = os.path.splitext(path)[1]
    with tempfile.TemporaryDirectory(prefix="keras_panns_s3-") as scratch:
        local = os.path.join(scratch, "object" + suffix)
        try:
            with s3.open_input_stream(path[len("s3://") :]) as source, open(local, "wb") as target:
                while True:
                    chunk = source.read(1 << 22)
                    if not chunk:
                        break
                    target.write(chunk)
        except OSError as exc:
            raise AudioError(f"{path}: cannot download ({exc})") from exc
        try:
            yield local
        except AudioError as exc:  # name the object, not the temporary download
            raise AudioError(str(exc).replace(local, path)) from exc
