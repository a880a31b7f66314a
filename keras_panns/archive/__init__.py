"""Whole archives: tag, detect and embed millions of recordings on Ray Data into Parquet tables.

`index_archive` runs the job (resumable; nothing lost) that an `IndexSpec` (what the tables hold) and
`JobResources` (how it runs) describe, and `finished_rerun`
answers the rerun of a finished job without loading the model;
`IndexStore` writes the tables and `IndexReader` reads them without writing;
`schema` declares every table and column; `list_sources` lists what an archive holds.
Needs the `archive` extra: `pip install 'keras-panns[archive]'` (Ray Data and pyarrow).

Example:
```python
import keras_panns
summary = keras_panns.index_archive(["recordings/"], "recordings.index", "cnn14", outputs=["tags", "embeddings"])
print(summary)
```
"""

from keras_panns.archive import schema
from keras_panns.archive.indexer import OUTPUTS, IndexSummary, finished_rerun, index_archive
from keras_panns.archive.reader import IndexReader
from keras_panns.archive.sources import list_sources
from keras_panns.archive.spec import IndexSpec, JobResources
from keras_panns.archive.store import COLUMNS, IndexStore

__all__ = [
    "COLUMNS",
    "IndexReader",
    "IndexSpec",
    "IndexStore",
    "IndexSummary",
    "JobResources",
    "OUTPUTS",
    "finished_rerun",
    "index_archive",
    "list_sources",
    "schema",
]
