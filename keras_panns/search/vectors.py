"""The nearest-neighbour index of an index's window embeddings: usearch HNSW, or exact search when small.

`tools/benchmark_search.py` chose both (its figures are in the README): at
1,000,000 embeddings of 2048 dims, usearch's HNSW with float16 vectors reached
recall@10 0.96 at 55 ms a query (p99 63 ms) on two cores, where exact search
took 381 ms; FAISS IVF-Flat needed most of its lists for that recall. Below
`EXACT_BELOW` windows exact search is as fast as the graph and needs nothing
on disk.

The graph lives in `INDEX/vectors/`: `windows.usearch` (keys are the rows of
`Index.windows`, in the order `parts.json` lists the windows parts) and
`parts.json`. A resumed or extended `keras-panns index` run adds parts; the
next search adds only their rows to the graph (27 s per 10^4 windows on two
cores, with 20 s to load a graph of 10^6) instead of rebuilding it. Both files are written beside and
renamed into place, the graph first; a graph that does not match
`parts.json` (a crash between the two renames) is rebuilt.

Example:
```python
vectors = WindowVectors("INDEX/vectors", dims=2048)
vectors.update(parts, lambda names: embeddings_of(names))   # adds what is new
keys, similarity = vectors.search(query, k=10)
```
"""

import json
import os
import sys

import numpy as np

#: Below this many windows, search is exact (usearch brute force over the embeddings in memory): there it
#: takes under 4 ms a query on two cores (0.39 us a vector), as fast as the graph.
EXACT_BELOW = 10_000
#: HNSW build settings (connectivity M, efConstruction), those measured by tools/benchmark_search.py.
CONNECTIVITY, EXPANSION_ADD = 16, 128


def expansion_search(vectors):
    """HNSW's ef for a graph of `vectors`: recall@10 about 0.96 where it was measured.

    tools/benchmark_search.py measured recall@10 0.964 at ef 512 for 10^5 vectors and 0.960 at ef 2048
    for 10^6 (2048 dims, float16, M 16); between and beyond, ef grows as n^0.6 through those two points.
    """
    return int(min(4096, max(128, 512 * (max(vectors, 1) / 100_000) ** 0.6)))


GRAPH, PARTS = "windows.usearch", "parts.json"


def usearch_index():
    """The `usearch.index` module, imported after Ray where Ray is installed.

    usearch's compiled module, loaded first, breaks a later `ray.init` in the same process (Ray's
    raylet client dies with `std::regex_error`: seen with usearch 2.26 and Ray 2.60), so a search followed by
    `keras_panns.index` would abort; loaded after Ray, both work.
    """
    import importlib.util

    if "ray" not in sys.modules and importlib.util.find_spec("ray") is not None:
        import ray  # noqa: F401

    import usearch.index

    return usearch.index


def unit(vectors):
    """Rows scaled to unit length (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


def exact_search(vectors, query, k):
    """`(rows, similarity)` of the `k` rows of `vectors` nearest to `query` by cosine, best first (exact)."""
    search = usearch_index().search

    vectors = np.ascontiguousarray(vectors, np.float32)
    k = min(k, len(vectors))
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    found = search(vectors, np.asarray(query, np.float32), k, metric="cos", exact=True)
    return np.asarray(found.keys, np.int64), 1 - np.asarray(found.distances, np.float32)


class WindowVectors:
    """The HNSW graph of one index's embeddings, kept in step with its windows parts.

    Args:
        folder: str. `INDEX/vectors` (created on the first update).
        dims: int. Embedding size (the manifest's `embedding_size`).
    """

    def __init__(self, folder, dims):
        self.folder, self.dims = folder, int(dims)
        self._graph = None

    def _new_graph(self):
        Index = usearch_index().Index

        return Index(
            ndim=self.dims,
            metric="cos",
            dtype="f16",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
        )

    def _listed(self):
        try:
            with open(os.path.join(self.folder, PARTS), encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return []

    def order(self, parts):
        """The windows parts in key order: those already in the graph first (as listed), then the new ones."""
        listed = [entry["part"] for entry in self._listed()]
        if not set(listed) <= set(parts):
            listed = []  # a part left the index: the graph is rebuilt
        return listed + sorted(set(parts) - set(listed))

    def update(self, parts, rows_of, embeddings_of):
        """Adds the windows of parts not yet in the graph; returns the number of vectors added.

        Args:
            parts: the windows parts of the index, in `order(parts)`.
            rows_of: callable part -> its number of rows.
            embeddings_of: callable list of parts -> their embeddings `(rows, dims)`, concatenated in order.
        """
        Index = usearch_index().Index

        listed = self._listed()
        graph_path = os.path.join(self.folder, GRAPH)
        known = [entry["part"] for entry in listed]
        graph = None
        if known and known == parts[: len(known)] and os.path.exists(graph_path):
            # Memory-mapped when nothing is added (a graph of 10^6 windows opened in 5 s where reading it into
            # memory took 20 s, tools/benchmark_search.py); read into memory to extend it.
            graph = Index.restore(graph_path, view=len(parts) == len(known))
            if graph is None or len(graph) != sum(entry["rows"] for entry in listed):
                graph = None
        if graph is None:
            graph, listed = self._new_graph(), []
        self._graph = graph
        new = parts[len(listed) :]
        if not new:
            graph.expansion_search = expansion_search(len(graph))  # a restored graph has usearch's default
            return 0
        first = sum(entry["rows"] for entry in listed)
        vectors = unit(embeddings_of(new))
        graph.add(np.arange(first, first + len(vectors)), vectors)
        graph.expansion_search = expansion_search(len(graph))
        os.makedirs(self.folder, exist_ok=True)
        graph.save(graph_path + ".partial")
        os.replace(graph_path + ".partial", graph_path)
        for part in new:
            listed.append({"part": part, "rows": int(rows_of(part))})
        with open(os.path.join(self.folder, PARTS + ".partial"), "w", encoding="utf-8") as f:
            json.dump(listed, f)
        os.replace(os.path.join(self.folder, PARTS + ".partial"), os.path.join(self.folder, PARTS))
        return len(vectors)

    def search(self, query, k):
        """`(keys, similarity)` of the `k` nearest windows by cosine, best first (after `update`)."""
        found = self._graph.search(np.asarray(query, np.float32), min(k, len(self._graph)))
        return np.asarray(found.keys, np.int64), 1 - np.asarray(found.distances, np.float32)
