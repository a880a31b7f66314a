"""Whole archives: tag, detect and embed millions of recordings on Ray Data into Parquet tables.

`index` runs the job (resumable; nothing lost); `IndexStore` holds the
tables; `list_sources` lists what an archive holds. Needs the `archive`
extra: `pip install 'keras-panns[archive]'` (Ray Data and pyarrow).

Example:
```python
import keras_panns
summary = keras_panns.index(["recordings/"], "recordings.index", "cnn14", outputs=["tags", "embeddings"])
print(summary)
```
"""

from keras_panns.archive.indexer import OUTPUTS, IndexSummary, index
from keras_panns.archive.sources import list_sources
from keras_panns.archive.store import COLUMNS, IndexStore

__all__ = ["COLUMNS", "IndexStore", "IndexSummary", "OUTPUTS", "index", "list_sources"]
