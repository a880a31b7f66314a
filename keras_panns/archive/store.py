"""The on-disk index of an archive: plain Parquet tables and a manifest, committed part by part.

Layout of an index directory (every table a folder of Parquet parts, read
as one table by pandas, DuckDB, Polars, Spark or `pyarrow.dataset`):

```
INDEX/
  manifest.json          what made the index (package, model, weights sha256, window, hop, ...)
  files/part-*.parquet   one row per source file: path, size, mtime, duration, sample_rate,
                         channels, windows, status ("ok" or "error")
  windows/part-*.parquet one row per window: path, window, start, end, [top_labels, top_scores],
                         [scores], [embedding]
  events/part-*.parquet  one row per sound event: path, label, class_index, onset, offset, score
  errors/part-*.parquet  one row per failed file: path, reason, error (the exception's class)
  _staging/              parts being written (readers skip names that start with "_")
```

A part is written under `_staging/` and renamed into place table by table,
`files` last: a file counts as done only once its `files` row is in place,
and a rerun first deletes `windows`/`events`/`errors` parts whose `files`
part never arrived (a crash between two renames). So the tables never hold a
file twice, and no half-written part is ever read as done.

Example:
```python
import pandas as pd
windows = pd.read_parquet("INDEX/windows")
files = pd.read_parquet("INDEX/files")
```
"""

import json
import os
import shutil
import uuid

from keras_panns.atomic import atomic_write
from keras_panns.errors import ArchiveError

FORMAT = "keras-panns-index/1"
TABLES = ("windows", "events", "errors", "files")  # commit order: files last
STAGING = "_staging"

#: Manifest keys that must be equal for a rerun to extend an index.
#: The manifest's file name inside an index directory.
MANIFEST = "manifest.json"

FINGERPRINT_KEYS = (
    "model",
    "weights_sha256",
    "window_seconds",
    "hop_seconds",
    "sample_rate",
    "front_end",
    "outputs",
    "top_k",
    "events",
    "runtime",
)

#: Column name -> description, for the docs and `--help`.
COLUMNS = {
    "files": {
        "path": "string: the file as listed (local path or s3:// URL)",
        "size": "int64: bytes",
        "mtime": "float64: modification time (Unix seconds)",
        "duration": "float64: seconds (null for a file that could not be read)",
        "sample_rate": "int32: the file's own rate",
        "channels": "int32",
        "windows": "int32: windows indexed",
        "status": "string: ok or error",
    },
    "windows": {
        "path": "string",
        "window": "int32: index within the file",
        "start": "float64: seconds",
        "end": "float64: seconds",
        "top_labels": "list<string>: the top-k classes, best first",
        "top_scores": "list<float32>: their scores",
        "scores": "fixed_size_list<float32>[classes]",
        "embedding": "fixed_size_list<float32>[embedding size]",
    },
    "events": {
        "path": "string",
        "label": "string",
        "class_index": "int32",
        "onset": "float64: seconds",
        "offset": "float64: seconds",
        "score": "float32: the event's peak (smoothed) score",
    },
    "errors": {"path": "string", "reason": "string: the message", "error": "string: the exception's class"},
}


def _schemas(num_classes, embedding_size, outputs):
    import pyarrow as pa

    windows = [("path", pa.string()), ("window", pa.int32()), ("start", pa.float64()), ("end", pa.float64())]
    if "tags" in outputs:
        windows += [("top_labels", pa.list_(pa.string())), ("top_scores", pa.list_(pa.float32()))]
    if "scores" in outputs:
        windows.append(("scores", pa.list_(pa.float32(), num_classes)))
    if "embeddings" in outputs:
        windows.append(("embedding", pa.list_(pa.float32(), embedding_size)))
    return {
        "files": pa.schema(
            [
                ("path", pa.string()),
                ("size", pa.int64()),
                ("mtime", pa.float64()),
                ("duration", pa.float64()),
                ("sample_rate", pa.int32()),
                ("channels", pa.int32()),
                ("windows", pa.int32()),
                ("status", pa.string()),
            ]
        ),
        "windows": pa.schema(windows),
        "events": pa.schema(
            [
                ("path", pa.string()),
                ("label", pa.string()),
                ("class_index", pa.int32()),
                ("onset", pa.float64()),
                ("offset", pa.float64()),
                ("score", pa.float32()),
            ]
        ),
        "errors": pa.schema([("path", pa.string()), ("reason", pa.string()), ("error", pa.string())]),
    }


def part_names(root, table):
    """The Parquet parts of one table of the index at `root`, sorted (none for a table not written yet)."""
    folder = os.path.join(root, table)
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if name.startswith("part-") and name.endswith(".parquet"))


def manifest_differences(old, new):
    """The fingerprint keys whose values differ, as `"key: old -> new"` lines."""
    return [f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in FINGERPRINT_KEYS if old.get(key) != new.get(key)]


class IndexStore:
    """Writes and reads the tables of one index directory.

    Args:
        root: str. The index directory (created if missing).

    Raises:
        ArchiveError: `root` cannot be created or written, or its manifest is unreadable.

    Example:
    ```python
    store = IndexStore("INDEX")
    store.open(manifest)             # refuses a manifest that differs from the one there
    done = store.done_keys()         # {(path, size, mtime), ...}
    store.commit({"files": [...], "windows": [...]})
    ```
    """

    def __init__(self, root):
        self.root = os.fspath(root)
        self.manifest = None
        self._schemas = None
        try:
            os.makedirs(self.root, exist_ok=True)
            probe = os.path.join(self.root, f".write-test-{uuid.uuid4().hex}")
            with open(probe, "w", encoding="utf-8"):
                pass
            os.remove(probe)
        except OSError as exc:
            raise ArchiveError(f"{self.root}: cannot write the index here ({exc.strerror or exc})") from exc

    @property
    def manifest_path(self):
        return os.path.join(self.root, MANIFEST)

    def read_manifest(self):
        """The manifest there, or None for a new index.

        Returns:
            dict or None.

        Raises:
            ArchiveError: the manifest is unreadable or of another format.

        Example:
        ```python
        IndexStore("recordings.index").read_manifest()["model_name"]  # 'cnn14'
        ```
        """
        if not os.path.exists(self.manifest_path):
            return None
        try:
            with open(self.manifest_path, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, ValueError) as exc:
            raise ArchiveError(
                f"{self.manifest_path}: unreadable manifest ({exc}); is this a keras-panns index?"
            ) from exc
        if manifest.get("format") != FORMAT:
            raise ArchiveError(f"{self.manifest_path}: not a {FORMAT} manifest (format {manifest.get('format')!r})")
        return manifest

    def open(self, manifest):
        """Starts or resumes writing with `manifest`; an index made with another fingerprint is refused.

        Args:
            manifest: dict, the run's fingerprint (model, weights, window, hop, outputs, ...).

        Raises:
            ArchiveError: the index there was made with other settings (each difference is named), or the
                folder holds something that is not an index.

        Example:
        ```python
        store = IndexStore("recordings.index")
        store.open(manifest)  # a second run with the same manifest resumes
        ```
        """
        old = self.read_manifest()
        if old is not None:
            differences = manifest_differences(old, manifest)
            if differences:
                raise ArchiveError(
                    f"{self.root} was indexed with other settings; use another --out or the same "
                    "settings. Differences (index there -> this run):\n  " + "\n  ".join(differences)
                )
        elif any(name for name in os.listdir(self.root) if not name.startswith(".")):
            raise ArchiveError(
                f"{self.root}: not empty and not a keras-panns index (no manifest.json); choose an empty or new --out"
            )
        else:
            with atomic_write(self.manifest_path) as f:
                json.dump(manifest, f, indent=2, sort_keys=True)
        self.manifest = manifest
        self._schemas = _schemas(manifest["num_classes"], manifest["embedding_size"], manifest["outputs"])
        self._remove_uncommitted()

    def _parts(self, table):
        return part_names(self.root, table)

    def _remove_uncommitted(self):
        shutil.rmtree(os.path.join(self.root, STAGING), ignore_errors=True)
        committed = set(self._parts("files"))
        for table in TABLES[:-1]:
            for name in self._parts(table):
                if name not in committed:
                    os.remove(os.path.join(self.root, table, name))

    def retire(self, paths):
        """Takes every row of `paths` out of the index, so that files changed since are indexed once, anew.

        Each part holding one of them is rewritten under a new name without those rows. The rewritten
        part's `windows`, `events` and `errors` go in place first (they count for nothing until its
        `files` does), then the old part's `files` goes, then the new one's arrives, then the old part's
        other tables go. A crash anywhere loses no row of another file for good: at worst the old part's
        files are no longer done and are indexed again, and the next `open` removes the orphans.
        Search graphs notice the renamed part and rebuild.

        Args:
            paths: iterable of str, as the `files` table spells them.

        Returns:
            int, the `files` rows taken out.

        Example:
        ```python
        store.retire(["archive/day1.flac"])  # its windows, events and files row are gone
        ```
        """
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        wanted = pa.array(sorted(set(paths)), pa.string())
        retired = 0
        if not len(wanted):
            return retired
        staging = os.path.join(self.root, STAGING)
        for name in self._parts("files"):
            listed = pq.read_table(os.path.join(self.root, "files", name), columns=["path"]).column("path")
            hits = pc.sum(pc.is_in(listed, value_set=wanted)).as_py() or 0
            if not hits:
                continue
            retired += hits
            renamed = f"part-{uuid.uuid4().hex}.parquet" if hits < len(listed) else None
            for table in TABLES if renamed else ():
                source = os.path.join(self.root, table, name)
                if not os.path.exists(source):
                    continue
                data = pq.read_table(source)
                kept = data.filter(pc.invert(pc.is_in(data.column("path"), value_set=wanted)))
                if kept.num_rows:
                    os.makedirs(os.path.join(staging, table), exist_ok=True)
                    pq.write_table(kept, os.path.join(staging, table, renamed))
            for table in TABLES[:-1] if renamed else ():
                if os.path.exists(os.path.join(staging, table, renamed)):
                    os.makedirs(os.path.join(self.root, table), exist_ok=True)
                    os.replace(os.path.join(staging, table, renamed), os.path.join(self.root, table, renamed))
            os.remove(os.path.join(self.root, "files", name))  # from here the old part counts for nothing
            if renamed:
                os.replace(os.path.join(staging, "files", renamed), os.path.join(self.root, "files", renamed))
            for table in TABLES[:-1]:
                if os.path.exists(os.path.join(self.root, table, name)):
                    os.remove(os.path.join(self.root, table, name))
        return retired

    def done_keys(self):
        """`pyarrow.Table` (path, size, mtime) of every file already committed (ok or failed).

        Returns:
            `pyarrow.Table`.

        Example:
        ```python
        done = store.done_keys()  # the resume skips these before decoding
        ```
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [
            pq.read_table(os.path.join(self.root, "files", name), columns=["path", "size", "mtime"])
            for name in self._parts("files")
        ]
        if not parts:
            return pa.table(
                {
                    "path": pa.array([], pa.string()),
                    "size": pa.array([], pa.int64()),
                    "mtime": pa.array([], pa.float64()),
                }
            )
        return pa.concat_tables(parts)

    def commit(self, rows):
        """Writes one part: `rows` maps a table name to a list of row dicts; `files` must be non-empty.

        The part's tables are written under the staging folder, then moved in
        place with `files` last, so a killed job never marks a file done whose
        windows are missing.

        Args:
            rows: `{table name: [row dict, ...]}`; no `files` rows, no part.

        Example:
        ```python
        store.commit({"files": [file_row], "windows": window_rows})
        ```
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows.get("files"):
            return
        name = f"part-{uuid.uuid4().hex}.parquet"
        staging = os.path.join(self.root, STAGING)
        written = []
        for table in TABLES:
            schema = self._schemas[table]
            data = rows.get(table) or []
            if not data and table != "files":
                continue
            columns = {field.name: [row[field.name] for row in data] for field in schema}
            os.makedirs(os.path.join(staging, table), exist_ok=True)
            path = os.path.join(staging, table, name)
            pq.write_table(pa.table(columns, schema=schema), path)
            written.append(table)
        for table in written:  # "files" comes last: the part counts as done once it is in place
            os.makedirs(os.path.join(self.root, table), exist_ok=True)
            os.replace(os.path.join(staging, table, name), os.path.join(self.root, table, name))

    def read(self, table):
        """One table as a `pyarrow.Table` (empty with its schema when no part holds rows).

        Args:
            table: str, one of `files`, `windows`, `events`, `errors`.

        Returns:
            `pyarrow.Table`.

        Example:
        ```python
        windows = IndexStore("recordings.index").read("windows").to_pandas()
        ```
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [pq.read_table(os.path.join(self.root, table, name)) for name in self._parts(table)]
        if not parts:
            manifest = self.manifest or self.read_manifest()
            return _schemas(manifest["num_classes"], manifest["embedding_size"], manifest["outputs"])[
                table
            ].empty_table()
        return pa.concat_tables(parts)
