"""Downloads into the cache: atomic, hash-verified, never leaving a partial file."""

import hashlib
import http.client
import os
import pathlib
import sys
import tempfile
import urllib.error
import urllib.request

from keras_panns.errors import ChecksumError, DownloadError

CACHE_ENV = "KERAS_PANNS_CACHE"
_CHUNK = 1 << 20


def cache_dir(override=None):
    """The cache root: `override`, `$KERAS_PANNS_CACHE`, or `$XDG_CACHE_HOME/keras_panns`.

    Args:
        override: str, path-like or None. A folder to use instead (`~` expanded).

    Returns:
        `pathlib.Path` (not created here).

    Example:
    ```python
    cache_dir()  # PosixPath('/home/me/.cache/keras_panns')
    ```
    """
    if override:
        return pathlib.Path(override).expanduser()
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "keras_panns"


def file_hashes(path):
    """(md5, sha256) hex digests of a file, read in 1 MiB chunks.

    Args:
        path: str or path-like.

    Returns:
        `(md5, sha256)`, both hex str.

    Example:
    ```python
    md5, sha256 = file_hashes("Cnn14_mAP=0.431.pth")
    ```
    """
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def verify_file(path, md5=None, sha256=None, size_bytes=None):
    """Raises `ChecksumError` if the file's size or hashes differ from those given.

    Args:
        path: str or path-like.
        md5: str or None. Expected md5 (hex); None: not checked.
        sha256: str or None. Expected sha256 (hex); None: not checked.
        size_bytes: int or None. Expected size; None: not checked.

    Raises:
        ChecksumError: the size or a hash differs (the message gives both values).

    Example:
    ```python
    verify_file("Cnn14_mAP=0.431.pth", md5=get_card("cnn14").checkpoint["md5"])
    ```
    """
    size = os.path.getsize(path)
    if size_bytes is not None and size != size_bytes:
        raise ChecksumError(f"{path}: size {size} bytes, expected {size_bytes}")
    if md5 or sha256:
        got_md5, got_sha = file_hashes(path)
        if md5 and got_md5 != md5.lower():
            raise ChecksumError(f"{path}: md5 {got_md5}, expected {md5}")
        if sha256 and got_sha != sha256.lower():
            raise ChecksumError(f"{path}: sha256 {got_sha}, expected {sha256}")


def _progress_bar(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is a dependency; stay quiet rather than fail if it is missing
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, file=sys.stderr, leave=False)


def download(url, destination, *, md5=None, sha256=None, size_bytes=None, progress=True, timeout=60.0):
    """Downloads `url` to `destination` atomically and verifies it.

    The bytes go to a temporary file beside `destination` while md5/sha256
    are computed on the fly; only a complete, verified file is renamed into
    place. Any failure (network, short read, hash mismatch, Ctrl-C) removes
    the temporary file, so the cache never holds a partial checkpoint.

    Args:
        url: str. http(s) or file URL.
        destination: path. Final file path; its folder is created.
        md5: str or None. Expected hex digests.
        sha256: str or None. Expected hex digests.
        size_bytes: int or None. Expected size.
        progress: bool. Show a byte progress bar on stderr.
        timeout: float. Socket timeout in seconds.

    Returns:
        The destination path.

    Raises:
        DownloadError: the transfer failed (with advice for offline machines).
        ChecksumError: the bytes differ from the expected size or hashes.

    Example:
    ```python
    download(card.download_url(), cache_dir() / "checkpoints" / card.file_name, md5=card.checkpoint["md5"])
    ```
    """
    destination = pathlib.Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=destination.parent)
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            written, digests = _transfer(
                url, out, timeout=timeout, size_bytes=size_bytes, desc=destination.name, progress=progress
            )
        _check_transfer(url, written, digests, md5=md5, sha256=sha256, size_bytes=size_bytes)
        os.replace(tmp, destination)
        return destination
    except DownloadError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ChecksumError):
            raise
        raise DownloadError(_advice(url, destination, exc)) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise DownloadError(_advice(url, destination, exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _transfer(url, out, *, timeout, size_bytes, desc, progress):
    """Copies the response body to `out`, hashing as it goes; returns (bytes written, (md5, sha256) hex)."""
    md5_hash, sha_hash = hashlib.md5(), hashlib.sha256()
    written = 0
    request = urllib.request.Request(url, headers={"User-Agent": "keras-panns"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        declared = int(length) if length and length.isdigit() else None
        bar = _progress_bar(declared or size_bytes, desc, progress)
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                md5_hash.update(chunk)
                sha_hash.update(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if declared is not None and written != declared:
        raise DownloadError(f"connection closed after {written} of {length} bytes")
    return written, (md5_hash.hexdigest(), sha_hash.hexdigest())


def _check_transfer(url, written, digests, *, md5, sha256, size_bytes):
    got_md5, got_sha = digests
    if size_bytes is not None and written != size_bytes:
        raise ChecksumError(f"downloaded {written} bytes from {url}, expected {size_bytes}; the file was discarded")
    if md5 and got_md5 != md5.lower():
        raise ChecksumError(
            f"md5 of {url} is {got_md5}, expected {md5}; the file was "
            "discarded (a corrupt transfer or a changed file on the server)"
        )
    if sha256 and got_sha != sha256.lower():
        raise ChecksumError(f"sha256 of {url} is {got_sha}, expected {sha256}; the file was discarded")


def _advice(url, destination, exc):
    return (
        f"could not download {url}: {exc}\n"
        f"If this machine is offline, fetch the file elsewhere and either pass its path "
        f"(from_pretrained('/path/to/{destination.name}')), copy it to {destination}, or serve a copy "
        f"and set KERAS_PANNS_MIRROR to its base URL."
    )
