"""Whole archives: tag, detect and embed millions of recordings on Ray Data into Parquet tables.

`index` runs the job (resumable; nothing lost), and `finished_rerun`
answers the rerun of a finished job without loading the model;
`IndexStore` holds the tables; `list_sources` lists what an archive holds.
Needs the `archive` extra: `pip install 'keras-panns[archive]'` (Ray Data and pyarrow).

Example:
```python
import keras_panns
summary = keras_panns.index(["recordings/"], "recordings.index", "cnn14", outputs=["tags", "embeddings"])
print(summary)
```
"""

from keras_panns.archive.indexer import OUTPUTS, IndexSummary, finished_rerun, index
from keras_panns.archive.sources import list_sources
from keras_panns.archive.store import COLUMNS, IndexStore

__all__ = ["COLUMNS", "IndexStore", "IndexSummary", "OUTPUTS", "finished_rerun", "index", "list_sources"]
