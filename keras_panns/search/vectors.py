"""The nearest-neighbour index of an index's window embeddings: usearch HNSW, or exact search when small.

Above `EXACT_BELOW` windows, search runs in two steps (figures on the site's search page,
`docs/search.md`, and in `benchmarks/search_1m_projected.md`):

1. a usearch HNSW graph over the embeddings projected onto their `PROJECTED`
   leading principal directions (uncentred, so inner products are kept in that
   subspace) gives `RERANK` candidates;
2. the candidates are re-ranked by their exact cosine with the full embeddings
   (kept beside the graph as float16), which is what a search returns.

Walking the graph in 256 dimensions instead of 2048 costs an eighth of the
distance arithmetic; the re-ranking gives the recall back. On 10^6 synthetic
2048-d embeddings on two cores (`tools/benchmark_search.py`) it reaches
recall@10 0.961 at ef 2048 with p50 22 / p99 41 ms, 3.9 GiB peak memory and
4.4 GiB on disk, where the graph over the full vectors needed p99 63 ms for
0.960 and 11.7 GiB. FAISS IVF-Flat needed most of its lists for that recall.
Below `EXACT_BELOW` windows exact search is as fast and needs nothing on disk.

The files in `INDEX/vectors/`: `windows.usearch` (the graph; keys are the rows
of `Index.windows`, in the order `parts.json` lists the windows parts),
`windows.f16` (the unit embeddings in key order, float16, row after row),
`projection.npy` (dims x `PROJECTED`) and `parts.json`. A resumed or extended
`keras-panns index` run adds parts; the next search adds only their rows (with
the projection fitted when the graph was first built) instead of rebuilding.
The graph and `parts.json` are written beside and renamed into place, the
graph first, and `windows.f16` is cut back to the rows `parts.json` lists
before rows are appended; a graph that does not match `parts.json` (a crash
between the two renames) is rebuilt.

Example:
```python
vectors = WindowVectors("INDEX/vectors", dims=2048)
vectors.update(parts, rows_of, embeddings_of)   # adds what is new
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
#: Dimensions the graph is built in (embeddings with more are projected onto this many principal directions).
PROJECTED = 256
#: Candidates the graph gives for each query before the exact re-ranking (at least 4 x k).
RERANK = 100
#: Rows the projection is fitted on (drawn from parts at random), and rows added to the graph at a time.
FIT_ROWS, CHUNK_ROWS = 50_000, 50_000
#: Fewer vectors than this are added to the graph by one thread. usearch's parallel insertion builds a
#: different graph each run, and gains nothing on a few thousand vectors; a 60-window test graph built in
#: parallel under load once missed its own vector. One thread builds the same graph every time.
SERIAL_ADD = 10_000
FORMAT = "keras-panns-vectors/2"


def expansion_search(vectors):
    """HNSW's ef for a graph of `vectors`: recall@10 about 0.96 where it was measured.

    This projected, re-ranked graph reached recall@10 0.966 at ef 512 on tools/benchmark_search.py's 10^5
    synthetic 2048-d vectors (a prototype run) and 0.961 at ef 2048 on 10^6 (p99 41 ms on two cores;
    ef 1536 gave 0.939, ef 1024 0.891); between and beyond, ef grows as n^0.6 through those two points,
    which errs on the side of recall.

    Args:
        vectors: int. Vectors in the graph.

    Returns:
        int, between 128 and 4096.

    Example:
    ```python
    expansion_search(1_000_000)  # 2038
    ```
    """
    return int(min(4096, max(128, 512 * (max(vectors, 1) / 100_000) ** 0.6)))


GRAPH, FULL, PROJECTION, PARTS = "windows.usearch", "windows.f16", "projection.npy", "parts.json"


def usearch_index():
    """The `usearch.index` module, imported after Ray where Ray is installed.

    usearch's compiled module, loaded first, breaks a later `ray.init` in the same process (Ray's
    raylet client dies with `std::regex_error`: seen with usearch 2.26 and Ray 2.60), so a search followed by
    `keras_panns.index_archive` would abort; loaded after Ray, both work.
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


def fit_projection(sample, dims=PROJECTED):
    """The `dims` leading principal directions of `sample`'s rows, uncentred: a `(features, dims)` matrix.

    Uncentred (the eigenvectors of `sample.T @ sample`), so that `(x @ P) . (y @ P)` is `x . y` within the
    subspace: the graph ranks by the inner products that the re-ranking then makes exact.
    """
    sample = np.asarray(sample, np.float64)
    values, directions = np.linalg.eigh(sample.T @ sample)
    return np.ascontiguousarray(directions[:, np.argsort(values)[::-1][:dims]], np.float32)


class WindowVectors:
    """The HNSW graph of one index's embeddings, kept in step with its windows parts.

    Args:
        folder: str. `INDEX/vectors` (created on the first update).
        dims: int. Embedding size (the manifest's `embedding_size`).

    Attributes:
        expansion: int or None. HNSW's ef for searches; None: `expansion_search` of the graph's size.
    """

    def __init__(self, folder, dims):
        self.folder, self.dims = folder, int(dims)
        self.expansion = None
        self._graph = self._full = self._projection = None

    def _path(self, name):
        return os.path.join(self.folder, name)

    def _listed(self):
        try:
            with open(self._path(PARTS), encoding="utf-8") as f:
                listed = json.load(f)
        except (OSError, ValueError):
            return []
        if not isinstance(listed, dict) or listed.get("format") != FORMAT or listed.get("dims") != self.dims:
            return []  # another layout (an index searched by an older keras-panns): rebuilt
        return listed["parts"]

    def order(self, parts):
        """The windows parts in key order: those already in the graph first (as listed), then the new ones."""
        listed = [entry["part"] for entry in self._listed()]
        if not set(listed) <= set(parts):
            listed = []  # a part left the index: the graph is rebuilt
        return listed + sorted(set(parts) - set(listed))

    def _restore(self, listed, parts):
        """The graph and projection on disk when they hold exactly the `listed` parts, else None."""
        known = [entry["part"] for entry in listed]
        rows = sum(entry["rows"] for entry in listed)
        needed = [GRAPH, FULL] + ([PROJECTION] if self.dims > PROJECTED else [])
        if not known or known != parts[: len(known)] or not all(os.path.exists(self._path(n)) for n in needed):
            return None
        if os.path.getsize(self._path(FULL)) < rows * self.dims * 2:
            return None
        # Memory-mapped when nothing is added (a graph of 10^6 windows opened in seconds where reading it into
        # memory took four times as long, tools/benchmark_search.py); read into memory to extend it.
        graph = usearch_index().Index.restore(self._path(GRAPH), view=len(parts) == len(known))
        if graph is None or len(graph) != rows:
            return None
        projection = np.load(self._path(PROJECTION)) if self.dims > PROJECTED else None
        return graph, projection

    def _fit(self, parts, rows_of, embeddings_of):
        if self.dims <= PROJECTED:
            return None
        order = np.random.RandomState(0).permutation(len(parts))
        chosen, rows = [], 0
        for i in order:  # parts at random: the first ones may all be one folder of the archive
            chosen.append(parts[i])
            rows += rows_of(parts[i])
            if rows >= FIT_ROWS:
                break
        sample = unit(embeddings_of(sorted(chosen, key=parts.index)))
        if len(sample) > FIT_ROWS:
            sample = sample[np.random.RandomState(1).choice(len(sample), FIT_ROWS, replace=False)]
        projection = fit_projection(sample)
        os.makedirs(self.folder, exist_ok=True)
        np.save(self._path(PROJECTION + ".partial.npy"), projection)
        os.replace(self._path(PROJECTION + ".partial.npy"), self._path(PROJECTION))
        return projection

    def _new_graph(self):
        return usearch_index().Index(
            ndim=min(self.dims, PROJECTED),
            metric="ip",
            dtype="f16",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
        )

    def _project(self, vectors):
        return vectors if self._projection is None else vectors @ self._projection

    def update(self, parts, rows_of, embeddings_of):
        """Adds the windows of parts not yet in the graph; returns the number of vectors added.

        Args:
            parts: the windows parts of the index, in `order(parts)`.
            rows_of: callable part -> its number of rows.
            embeddings_of: callable list of parts -> their embeddings `(rows, dims)`, concatenated in order.

        Returns:
            The number of windows added (0 when the graph already held every part).
        """
        listed = self._listed()
        restored = self._restore(listed, parts)
        if restored is None:
            listed = []
            self._graph, self._projection = self._new_graph(), self._fit(parts, rows_of, embeddings_of)
        else:
            self._graph, self._projection = restored
        new = parts[len(listed) :]
        first = rows = sum(entry["rows"] for entry in listed)
        if new:
            os.makedirs(self.folder, exist_ok=True)
            with open(self._path(FULL), "r+b" if os.path.exists(self._path(FULL)) else "w+b") as full:
                full.truncate(rows * self.dims * 2)  # rows a crash left after what parts.json lists
                full.seek(0, os.SEEK_END)
                for group in self._groups(new, rows_of):
                    vectors = unit(embeddings_of(group))
                    full.write(vectors.astype(np.float16).tobytes())
                    threads = 1 if len(vectors) < SERIAL_ADD else 0  # 0: all cores
                    self._graph.add(np.arange(rows, rows + len(vectors)), self._project(vectors), threads=threads)
                    rows += len(vectors)
                    listed = listed + [{"part": part, "rows": int(rows_of(part))} for part in group]
                full.flush()
                os.fsync(full.fileno())
            self._graph.save(self._path(GRAPH + ".partial"))
            os.replace(self._path(GRAPH + ".partial"), self._path(GRAPH))
            with open(self._path(PARTS + ".partial"), "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, "dims": self.dims, "parts": listed}, f)
            os.replace(self._path(PARTS + ".partial"), self._path(PARTS))
        self._full = np.memmap(self._path(FULL), np.float16, "r", shape=(rows, self.dims)) if rows else None
        return rows - first

    @staticmethod
    def _groups(parts, rows_of):
        """`parts` in consecutive groups of about `CHUNK_ROWS` rows: memory stays bounded at any index size."""
        group, rows = [], 0
        for part in parts:
            group.append(part)
            rows += rows_of(part)
            if rows >= CHUNK_ROWS:
                yield group
                group, rows = [], 0
        if group:
            yield group

    def search(self, query, k):
        """`(keys, similarity)` of the `k` nearest windows by cosine, best first (after `update`).

        Args:
            query: `(dims,)` embedding (any length).
            k: int. How many to return.

        Returns:
            Keys (rows of the windows in `order`) and their exact cosine similarity to `query`.
        """
        if self._full is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        query = unit(query)
        self._graph.expansion_search = self.expansion or expansion_search(len(self._graph))
        wanted = min(max(RERANK, 4 * k), len(self._graph))
        found = self._graph.search(self._project(query), wanted)
        candidates = np.sort(np.asarray(found.keys, np.int64))  # in file order: fewer pages touched
        similarity = self._full[candidates].astype(np.float32) @ query
        best = np.argsort(-similarity, kind="stable")[:k]
        return candidates[best], similarity[best]
