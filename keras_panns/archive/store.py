"""The on-disk index of an archive: plain Parquet tables and a manifest, committed part by part.

Layout of an index directory (every table a folder of Parquet parts, read
as one table by pandas, DuckDB, Polars, Spark or `pyarrow.dataset`):

```
INDEX/
  manifest.json          what made the index (package, model, weights sha256, window, hop, ...)
  files/part-*.parquet   one row per source file (ok or error)
  windows/part-*.parquet one row per window
  events/part-*.parquet  one row per sound event
  errors/part-*.parquet  one row per failed file
  _staging/              parts being written (readers skip names that start with "_")
```

Each table's columns are declared in `keras_panns.archive.schema`; reading
without writing is `keras_panns.archive.reader.IndexReader`, which this
module's `IndexStore` extends with open, commit and retire.

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

from keras_panns.archive import schema
from keras_panns.archive.reader import FORMAT, MANIFEST, STAGING, IndexReader, part_names
from keras_panns.archive.spec import FINGERPRINT_KEYS, comparable
from keras_panns.atomic import atomic_write
from keras_panns.errors import ArchiveError

__all__ = ["FORMAT", "MANIFEST", "STAGING", "TABLES", "COLUMNS", "FINGERPRINT_KEYS", "IndexStore", "part_names"]

TABLES = schema.table_names()  # commit order: files last

#: Column name -> "type: description", for the docs and `--help` (derived from `schema.TABLES`).
COLUMNS = schema.describe()


def manifest_differences(old, new):
    """The fingerprint keys whose values differ, as `"key: old -> new"` lines."""
    return [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in FINGERPRINT_KEYS
        if comparable(key, old.get(key)) != comparable(key, new.get(key))
    ]


class IndexStore(IndexReader):
    """Writes the tables of one index directory (and reads them, as `IndexReader`).

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
        super().__init__(root)
        self._schemas = None
        try:
            os.makedirs(self.root, exist_ok=True)
            probe = os.path.join(self.root, f".write-test-{uuid.uuid4().hex}")
            with open(probe, "w", encoding="utf-8"):
                pass
            os.remove(probe)
        except OSError as exc:
            raise ArchiveError(f"{self.root}: cannot write the index here ({exc.strerror or exc})") from exc

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
        self._manifest, self._manifest_read = manifest, True
        self._schemas = schema.arrow_schemas(manifest)
        self._remove_uncommitted()

    def _parts(self, table):
        return self.parts(table)

    def _remove_uncommitted(self):
        shutil.rmtree(os.path.join(self.root, STAGING), ignore_errors=True)
        committed = set(self._parts("files"))
        for table in schema.table_names()[:-1]:
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
            for table in schema.table_names() if renamed else ():
                source = os.path.join(self.root, table, name)
                if not os.path.exists(source):
                    continue
                data = pq.read_table(source)
                kept = data.filter(pc.invert(pc.is_in(data.column("path"), value_set=wanted)))
                if kept.num_rows:
                    os.makedirs(os.path.join(staging, table), exist_ok=True)
                    pq.write_table(kept, os.path.join(staging, table, renamed))
            for table in schema.table_names()[:-1] if renamed else ():
                if os.path.exists(os.path.join(staging, table, renamed)):
                    os.makedirs(os.path.join(self.root, table), exist_ok=True)
                    os.replace(os.path.join(staging, table, renamed), os.path.join(self.root, table, renamed))
            os.remove(os.path.join(self.root, "files", name))  # from here the old part counts for nothing
            if renamed:
                os.replace(os.path.join(staging, "files", renamed), os.path.join(self.root, "files", renamed))
            for table in schema.table_names()[:-1]:
                if os.path.exists(os.path.join(self.root, table, name)):
                    os.remove(os.path.join(self.root, table, name))
        return retired

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
        for table in schema.table_names():
            arrow = self._schemas[table]
            data = rows.get(table) or []
            if not data and table != "files":
                continue
            columns = {field.name: [row[field.name] for row in data] for field in arrow}
            os.makedirs(os.path.join(staging, table), exist_ok=True)
            path = os.path.join(staging, table, name)
            pq.write_table(pa.table(columns, schema=arrow), path)
            written.append(table)
        for table in written:  # "files" comes last: the part counts as done once it is in place
            os.makedirs(os.path.join(self.root, table), exist_ok=True)
            os.replace(os.path.join(staging, table, name), os.path.join(self.root, table, name))
