"""Reading an index directory without writing to it: its manifest, committed parts and tables.

`IndexReader` opens nothing for writing and creates nothing, so search, the
model-free rerun check and any other reader can open an index on a read-only
disk or one that a job is still writing (only committed parts are read).
`IndexStore` (`keras_panns.archive.store`) adds writing to it.

Example:
```python
from keras_panns.archive.reader import IndexReader

reader = IndexReader("recordings.index")
reader.manifest["model"], reader.read("files").num_rows
```
"""

import json
import os

from keras_panns.archive import schema
from keras_panns.errors import ArchiveError

FORMAT = "keras-panns-index/1"
#: The manifest's file name inside an index directory.
MANIFEST = "manifest.json"
#: Where parts are written before they are renamed into place (readers skip names starting with "_").
STAGING = "_staging"


def read_parquet_part(path, columns=None, remedy="delete it"):
    """One Parquet part, or an `ArchiveError` naming it and what to do.

    Args:
        path: str. The part's file.
        columns: list of str or None (all).
        remedy: str. What to do about an unreadable part, for the message.

    Returns:
        `pyarrow.Table`.

    Raises:
        ArchiveError: the part cannot be read.

    Example:
    ```python
    read_parquet_part("recordings.index/files/part-0a1b....parquet", ["path"])
    ```
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"{path}: unreadable table part ({exc}); {remedy}") from exc


def part_names(root, table):
    """The Parquet parts of one table of the index at `root`, sorted (none for a table not written yet).

    Example:
    ```python
    part_names("recordings.index", "files")  # ['part-0a1b....parquet', ...]
    ```
    """
    folder = os.path.join(root, table)
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if name.startswith("part-") and name.endswith(".parquet"))


class IndexReader:
    """The manifest and tables of one index directory, read-only.

    Args:
        root: str or path-like. The index directory; it need not exist (then it has no manifest).

    Example:
    ```python
    reader = IndexReader("recordings.index")
    if reader.manifest is not None:
        done = reader.done_keys()  # (path, size, mtime) of every committed file
    ```
    """

    def __init__(self, root):
        self.root = os.fspath(root)
        self._manifest = None
        self._manifest_read = False

    @property
    def manifest_path(self):
        return os.path.join(self.root, MANIFEST)

    @property
    def manifest(self):
        """The manifest (a dict), or None for a folder that holds none; read once and kept.

        Raises:
            ArchiveError: the manifest is unreadable or of another format.
        """
        if not self._manifest_read:
            self._manifest = self.read_manifest()
            self._manifest_read = True
        return self._manifest

    def read_manifest(self):
        """The manifest there now, or None for a new index.

        Returns:
            dict or None.

        Raises:
            ArchiveError: the manifest is unreadable or of another format.

        Example:
        ```python
        IndexReader("recordings.index").read_manifest()["model_name"]  # 'cnn14'
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
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise ArchiveError(f"{self.manifest_path}: not a {FORMAT} manifest (format {found!r})")
        return manifest

    def parts(self, table, committed_only=False):
        """The part names of `table`; with `committed_only`, only those whose `files` part is in place.

        Args:
            table: str. A table name (`schema.table_names()`).
            committed_only: bool. Leave out parts of a commit that never finished (no `files` part).

        Returns:
            list of str, sorted.

        Example:
        ```python
        reader.parts("windows", committed_only=True)
        ```
        """
        names = part_names(self.root, table)
        if committed_only and table != "files":
            committed = set(part_names(self.root, "files"))
            names = [name for name in names if name in committed]
        return names

    def schema(self, table):
        """The `pyarrow.Schema` of `table` in this index (from the manifest's sizes and outputs).

        Args:
            table: str. A table name (`schema.table_names()`).

        Returns:
            `pyarrow.Schema`.

        Example:
        ```python
        reader.schema("windows").names  # ['path', 'window', 'start', 'end', 'top_labels', 'top_scores']
        ```
        """
        manifest = self.manifest
        return schema.arrow_schema(table, manifest["num_classes"], manifest["embedding_size"], manifest["outputs"])

    def read(self, table, columns=None):
        """One table as a `pyarrow.Table` (empty with its schema when no part holds rows).

        Args:
            table: str, one of `schema.table_names()`.
            columns: list of str or None (all).

        Returns:
            `pyarrow.Table`.

        Raises:
            ArchiveError: a part cannot be read (named, with what to do).

        Example:
        ```python
        windows = IndexReader("recordings.index").read("windows").to_pandas()
        ```
        """
        import pyarrow as pa

        parts = [self.read_part(table, name, columns) for name in self.parts(table)]
        if parts:
            return pa.concat_tables(parts)
        empty = self.schema(table)
        return empty.empty_table() if columns is None else pa.schema([empty.field(c) for c in columns]).empty_table()

    def read_part(self, table, name, columns=None):
        """One Parquet part of `table`.

        Args:
            table: str. A table name.
            name: str. A part's file name (`parts`).
            columns: list of str or None (all).

        Returns:
            `pyarrow.Table`.

        Raises:
            ArchiveError: the part cannot be read (named, with what to do).

        Example:
        ```python
        reader.read_part("files", reader.parts("files")[0])
        ```
        """
        return read_parquet_part(
            os.path.join(self.root, table, name),
            columns,
            "delete it and its files/ part, then rerun keras-panns index to redo those files",
        )

    def done_keys(self):
        """`pyarrow.Table` (path, size, mtime) of every file already committed (ok or failed).

        Returns:
            `pyarrow.Table`.

        Example:
        ```python
        done = reader.done_keys()  # the resume skips these before decoding
        ```
        """
        import pyarrow as pa

        keys = ["path", "size", "mtime"]
        parts = [self.read_part("files", name, keys) for name in self.parts("files")]
        if parts:
            return pa.concat_tables(parts)
        files = schema.table("files")
        return pa.schema([(key, files.column(key).arrow_type(0, 0)) for key in keys]).empty_table()
