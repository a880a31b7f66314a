"""Finding sounds in an index made by `keras-panns index`: similar sounds, labels, groups, a report, hoplite.

`Index` reads the tables and searches them (`keras-panns search`); the
nearest-neighbour index is usearch's HNSW (`search.vectors`). Needs the
`search` extra: `pip install 'keras-panns[search]'`.

Example:
```python
import keras_panns
archive = keras_panns.Index("recordings.index")
archive.search(like="dog.wav", label="Dog", min_score=0.3, top=5)
```
"""

from keras_panns.search.index import LEVELS, Index

__all__ = ["Index", "LEVELS"]
