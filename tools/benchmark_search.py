"""Vector search for `keras-panns search`: exact search against HNSW (usearch) and IVF (FAISS), measured.

Every candidate runs in its own process over the same vectors and queries,
and reports build time, peak memory (RSS of its process), size on disk,
recall@10 against exact search, and single-query latency p50/p99 (one query
at a time, as `keras-panns search --like` asks):

- `exact`: usearch's brute-force search (`usearch.index.search(..., exact=True)`);
- `usearch-hnsw-f16` / `usearch-hnsw-i8`: usearch HNSW (connectivity 16, expansion_add 128), vectors
  stored as float16 or int8, searched at each of `EXPANSIONS` (expansion_search, HNSW's ef);
- `faiss-ivf-flat`: FAISS IndexIVFFlat (inner product on unit vectors, nlist sqrt(n)), searched at
  each of `NPROBES`;
- `usearch-extend`: what growing the usearch-hnsw-f16 graph costs (after that candidate): loading it
  memory-mapped and into memory, and adding 10,000 vectors.
- `keras-panns`: what `keras-panns search` runs (`keras_panns.search.vectors.WindowVectors`): usearch HNSW
  over the vectors projected onto 256 principal directions, its 100 candidates re-ranked by exact cosine,
  searched at each of `EXPANSIONS`; then what opening it costs and what adding 10,000 vectors (a new
  part) costs, on a copy.

A built index is kept in `--work` with its build time, so a second run measures only the searches.

Two sets: `real`, the embeddings of an index made by `keras-panns index --outputs embeddings`
(`--real`; 10% held out as queries), and `synthetic`, `--vectors` vectors of the same size on a
64-dimensional manifold (see `synthetic_set`), queries drawn the same way.

Example:
  keras-panns index --checkpoint cnn14 --outputs embeddings --window 1 --hop 0.5 --out esc10.index esc10/
  python tools/benchmark_search.py --real esc10.index --vectors 1000000 --work /tmp/search_bench \\
      --out benchmarks/search_1m.json
"""

import functools
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

REAL = flags.DEFINE_string("real", None, "An index with embeddings (keras-panns index --outputs embeddings).")
VECTORS = flags.DEFINE_integer("vectors", 1_000_000, "Vectors of the synthetic set.")
QUERIES = flags.DEFINE_integer("queries", 1000, "Queries for recall (latency is timed on the first --timed).")
TIMED = flags.DEFINE_integer("timed", 300, "Single queries timed for p50/p99.")
CANDIDATES = flags.DEFINE_list(
    "candidates", ["exact", "usearch-hnsw-f16", "usearch-hnsw-i8", "faiss-ivf-flat"], "What to measure."
)
WORK = flags.DEFINE_string("work", "/tmp/keras_panns_search_bench", "Vectors, queries and indexes (kept).")
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")
WORKER = flags.DEFINE_string("worker", None, "Internal: measure one candidate on one set, print JSON.")
SET = flags.DEFINE_string("set", None, "Internal: the set's folder.")

K = 10


def real_set():
    """The index's embeddings, 10% of them held out as queries."""
    import pandas as pd

    folder = os.path.join(WORK.value, "real")
    if not os.path.exists(os.path.join(folder, "vectors.npy")):
        embeddings = np.stack(
            pd.read_parquet(os.path.join(REAL.value, "windows"), columns=["embedding"])["embedding"].to_numpy()
        ).astype(np.float32)
        rng = np.random.RandomState(0)
        order = rng.permutation(len(embeddings))
        held = max(1, min(QUERIES.value, len(embeddings) // 10))
        os.makedirs(folder, exist_ok=True)
        np.save(os.path.join(folder, "queries.npy"), embeddings[order[:held]])
        np.save(os.path.join(folder, "vectors.npy"), embeddings[order[held:]])
    return folder


def synthetic_set(dims):
    """`--vectors` vectors of `dims` on a 64-dimensional manifold, written in chunks to a memory-mapped .npy.

    Each is relu(z W + b) for a latent z ~ N(0, I_64) and one fixed random W (64 x dims) and b, plus 1%
    noise: non-negative and high-dimensional like ReLU-pooled embeddings, with neighbours that the latent
    decides (a model's embeddings of real audio have such structure; i.i.d. noise has none to index).
    """
    folder = os.path.join(WORK.value, f"synthetic-{VECTORS.value}")
    path = os.path.join(folder, "vectors.npy")
    if os.path.exists(path):
        return folder
    os.makedirs(folder, exist_ok=True)
    rng = np.random.RandomState(1)
    weights = (rng.standard_normal((64, dims)) / 8).astype(np.float32)
    bias = np.float32(-0.2)

    def draw(n):
        z = rng.standard_normal((n, 64)).astype(np.float32)
        v = np.maximum(z @ weights + bias, 0)
        return v + np.float32(0.01) * np.abs(rng.standard_normal(v.shape)).astype(np.float32)

    np.save(os.path.join(folder, "queries.npy"), draw(QUERIES.value))
    partial = os.path.join(folder, "vectors.partial.npy")
    data = np.lib.format.open_memmap(partial, "w+", np.float32, (VECTORS.value, dims))
    for first in range(0, VECTORS.value, 50_000):
        data[first : first + 50_000] = draw(min(50_000, VECTORS.value - first))
    data.flush()
    del data
    os.replace(partial, path)
    return folder


def _load(folder):
    return np.load(os.path.join(folder, "vectors.npy"), mmap_mode="r"), np.load(os.path.join(folder, "queries.npy"))


def _latencies(search, queries):
    seconds = []
    for query in queries[: TIMED.value]:
        started = time.perf_counter()
        search(query)
        seconds.append(time.perf_counter() - started)
    return 1e3 * np.percentile(seconds, 50), 1e3 * np.percentile(seconds, 99)


def _disk(path):
    return os.path.getsize(path) / 2**20 if os.path.exists(path) else None


def truth(folder):
    """The exact top-10 of every query (usearch brute force), cached beside the set."""
    path = os.path.join(folder, "truth.npy")
    if not os.path.exists(path):
        from usearch.index import search

        vectors, queries = _load(folder)
        keys = np.zeros((len(queries), K), np.int64)
        for first in range(0, len(queries), 100):  # in slices: each compares to all of `vectors`
            found = search(vectors, queries[first : first + 100], K, metric="cos", exact=True)
            keys[first : first + 100] = found.keys
        np.save(path, keys)
    return np.load(path)


EXPANSIONS = (128, 256, 512, 1024, 1536, 2048)  # usearch expansion_search (HNSW's ef), swept on one graph
NPROBES = (8, 16, 32, 64, 128)  # FAISS nprobe, swept on one IVF


def _built(path, build):
    """`(index, build seconds)`: the index saved at `path` (with its build time beside it), else `build()`."""
    timing = path + ".build_s"
    if os.path.exists(path) and os.path.exists(timing):
        with open(timing) as f:
            return None, float(f.read())
    started = time.perf_counter()
    index = build()
    seconds = time.perf_counter() - started
    return index, seconds


def _row(candidate, setting, vectors, queries, expected, search, build, disk):
    found = np.stack([np.asarray(search(query)).reshape(-1)[:K] for query in queries])
    recall = np.mean([len(set(f) & set(e)) / K for f, e in zip(found, expected)])
    p50, p99 = _latencies(search, queries)
    return {
        "candidate": candidate,
        "setting": setting,
        "vectors": len(vectors),
        "dims": vectors.shape[1],
        "build_s": build,
        "recall_at_10": float(recall),
        "p50_ms": p50,
        "p99_ms": p99,
        "disk_mib": disk,
        "peak_rss_mib": _peak_rss_mib(),
    }


def measure(candidate, folder):
    """The figures of one candidate: one row per search setting (the build is timed once)."""
    vectors, queries = _load(folder)
    expected = truth(folder)
    n, dims = vectors.shape
    stem = os.path.join(WORK.value, f"{candidate}-{os.path.basename(folder)}")
    if candidate == "exact":
        from usearch.index import search as brute

        data = np.ascontiguousarray(vectors)  # exact search reads every vector: in memory, as the index would be
        return [
            _row(
                candidate,
                "brute force",
                vectors,
                queries,
                expected,
                lambda q: brute(data, q, K, metric="cos", exact=True).keys,
                0.0,
                data.nbytes / 2**20,
            )
        ]
    if candidate.startswith("usearch-hnsw"):
        from usearch.index import Index

        def build():
            index = Index(
                ndim=dims, metric="cos", dtype=candidate.rsplit("-", 1)[1], connectivity=16, expansion_add=128
            )
            for first in range(0, n, 50_000):
                index.add(
                    np.arange(first, first + min(50_000, n - first)),
                    np.ascontiguousarray(vectors[first : first + 50_000]),
                )
            return index

        index, seconds = _built(stem + ".usearch", build)
        if index is None:
            index = Index.restore(stem + ".usearch")
        else:
            index.save(stem + ".usearch")
            with open(stem + ".usearch.build_s", "w") as f:
                f.write(str(seconds))
        rows = []
        for expansion in EXPANSIONS:
            index.expansion_search = expansion
            rows.append(
                _row(
                    candidate,
                    f"expansion_search {expansion}",
                    vectors,
                    queries,
                    expected,
                    lambda q: index.search(q, K).keys,
                    seconds,
                    _disk(stem + ".usearch"),
                )
            )
        return rows
    if candidate == "faiss-ivf-flat":
        import faiss

        def build():
            nlist = max(1, int(np.sqrt(n)))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = np.array(vectors[np.random.RandomState(0).choice(n, min(n, 50 * nlist), False)])
            faiss.normalize_L2(sample)
            index.train(sample)
            for first in range(0, n, 50_000):
                chunk = np.array(vectors[first : first + 50_000])
                faiss.normalize_L2(chunk)
                index.add(chunk)
            return index

        index, seconds = _built(stem + ".faiss", build)
        if index is None:
            index = faiss.read_index(stem + ".faiss")
        else:
            faiss.write_index(index, stem + ".faiss")
            with open(stem + ".faiss.build_s", "w") as f:
                f.write(str(seconds))

        def search(query):
            q = np.array(query[None], np.float32)
            faiss.normalize_L2(q)
            return index.search(q, K)[1][0]

        rows = []
        for nprobe in NPROBES:
            index.nprobe = nprobe
            rows.append(
                _row(
                    candidate,
                    f"nprobe {nprobe} of {index.nlist}",
                    vectors,
                    queries,
                    expected,
                    search,
                    seconds,
                    _disk(stem + ".faiss"),
                )
            )
        return rows
    if candidate == "usearch-extend":
        return [_extend(stem.replace("usearch-extend", "usearch-hnsw-f16"), vectors, queries)]
    if candidate == "keras-panns":
        return _keras_panns(stem, vectors, queries, expected)
    raise app.UsageError(f"unknown candidate {candidate}")


def _extend(stem, vectors, queries, added=10_000):
    """What growing an index costs: loading its graph (memory-mapped, or into memory to extend it) and adding
    `added` vectors to it (as a resumed `keras-panns index` run's new windows)."""
    from usearch.index import Index

    path = stem + ".usearch"
    if not os.path.exists(path):
        raise app.UsageError(f"{path}: measure usearch-hnsw-f16 first (its graph is what is extended)")
    started = time.perf_counter()
    view = Index.restore(path, view=True)
    view.search(queries[0], K)
    load_view = time.perf_counter() - started
    del view
    started = time.perf_counter()
    index = Index.restore(path)
    load = time.perf_counter() - started
    index.expansion_add = 128
    rng = np.random.RandomState(7)
    extra = np.ascontiguousarray(vectors[rng.choice(len(vectors), added, replace=False)])
    extra = extra + np.float32(0.01) * rng.standard_normal(extra.shape).astype(np.float32)
    started = time.perf_counter()
    index.add(np.arange(len(vectors), len(vectors) + added), extra)
    extend = time.perf_counter() - started
    return {
        "candidate": "usearch-extend",
        "vectors": len(vectors),
        "dims": vectors.shape[1],
        "added": added,
        "load_view_s": load_view,
        "load_s": load,
        "extend_s": extend,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _top(search, query):
    return search(query, K)[0]


def _keras_panns(folder, vectors, queries, expected, part_rows=50_000, added=10_000):
    """The product's own vector index over the set, split into parts of `part_rows` rows as an index is."""
    import shutil

    from keras_panns.search.vectors import WindowVectors

    n = len(vectors)
    parts = {f"part-{first:09d}.parquet": (first, min(n, first + part_rows)) for first in range(0, n, part_rows)}

    def rows_of(part):
        return parts[part][1] - parts[part][0]

    def embeddings_of(names):
        return np.concatenate([np.asarray(vectors[slice(*parts[p])]) for p in names])

    timing = os.path.join(folder, "build_s")
    graph = WindowVectors(folder, vectors.shape[1])
    started = time.perf_counter()
    graph.update(graph.order(sorted(parts)), rows_of, embeddings_of)
    opened = time.perf_counter() - started
    if os.path.exists(timing):
        with open(timing) as f:
            seconds = float(f.read())
    else:
        seconds, opened = opened, None
        with open(timing, "w") as f:
            f.write(str(seconds))
    disk = sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)) / 2**20
    search = graph.search  # deleted with graph below, after the last query
    rows = []
    for expansion in EXPANSIONS:
        graph.expansion = expansion
        rows.append(
            _row(
                "keras-panns",
                f"expansion_search {expansion}, 256-d, re-rank 100",
                vectors,
                queries,
                expected,
                functools.partial(_top, search),
                seconds,
                disk,
            )
        )
    del search, graph
    if opened is None:  # the build's own run: open it as a later search would
        started = time.perf_counter()
        WindowVectors(folder, vectors.shape[1]).update(sorted(parts), rows_of, embeddings_of)
        opened = time.perf_counter() - started
    copy = folder + "-extend"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(folder, copy)
    rng = np.random.RandomState(7)
    added = min(added, n)  # the real set may hold fewer windows than the synthetic set adds
    extra = np.asarray(vectors[np.sort(rng.choice(n, added, replace=False))])
    extra = extra + np.float32(0.01) * rng.standard_normal(extra.shape).astype(np.float32)
    parts["part-extra.parquet"] = (n, n + added)

    def with_extra(names):
        return np.concatenate([extra if p == "part-extra.parquet" else embeddings_of([p]) for p in names])

    grown = WindowVectors(copy, vectors.shape[1])
    started = time.perf_counter()
    grown.update(grown.order(sorted(parts)), rows_of, with_extra)
    extend = time.perf_counter() - started
    shutil.rmtree(copy, ignore_errors=True)
    rows.append(
        {
            "candidate": "keras-panns-extend",
            "vectors": n,
            "dims": vectors.shape[1],
            "added": added,
            "open_s": opened,
            "extend_s": extend,
            "peak_rss_mib": _peak_rss_mib(),
        }
    )
    return rows


def _peak_rss_mib():
    # VmHWM, not getrusage's ru_maxrss: Linux carries the parent's peak across fork and exec into the latter.
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _run(candidate, folder):
    command = [
        sys.executable,
        __file__,
        f"--worker={candidate}",
        f"--set={folder}",
        f"--work={WORK.value}",
        f"--timed={TIMED.value}",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        row = {"candidate": candidate, "error": done.stderr.strip().splitlines()[-1][-300:]}
        print(f"  {candidate}: {row}", flush=True)
        return [row]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        print(f"  {candidate}: {row}", flush=True)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return rows


def _markdown(result):
    lines = [f"CPU: {result['cpu']}; {result['cores']} cores; k={K}; single queries", ""]
    for name, rows in result["sets"].items():
        lines += [
            f"{name}:",
            "",
            "| candidate | setting | vectors x dims | build s | recall@10 | p50 ms | p99 ms | "
            "disk MiB | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            if row["candidate"].endswith("-extend") and "error" not in row:
                continue  # below the table
            if "error" in row:
                lines.append(f"| {row['candidate']} | failed: {row['error']} | | | | | | | |")
                continue
            lines.append(
                f"| {row['candidate']} | {row['setting']} | {row['vectors']:,} x {row['dims']} | "
                f"{row['build_s']:.1f} | "
                f"{row['recall_at_10']:.3f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
                f"{row['disk_mib']:.0f} | {row['peak_rss_mib']:.0f} |"
            )
        for row in rows:
            if row["candidate"] == "usearch-extend" and "error" not in row:
                lines += [
                    "",
                    f"Growing the graph of {row['vectors']:,} vectors: loading it memory-mapped (what a search "
                    f"needs) {row['load_view_s']:.2f} s, into memory (to extend it) {row['load_s']:.1f} s; "
                    f"adding {row['added']:,} vectors {row['extend_s']:.1f} s.",
                ]
            if row["candidate"] == "keras-panns-extend":
                lines += [
                    "",
                    f"keras-panns' index of {row['vectors']:,} vectors: opening it for a search "
                    f"{row['open_s']:.2f} s; adding a part of {row['added']:,} vectors (loading the graph into "
                    f"memory, projecting, adding, saving) {row['extend_s']:.1f} s.",
                ]
        lines.append("")
    return "\n".join(lines)


def main(argv):
    del argv
    if WORKER.value:
        print(json.dumps(measure(WORKER.value, SET.value)))
        return
    if not REAL.value:
        raise app.UsageError("--real INDEX is required (an index made with --outputs embeddings)")
    real = real_set()
    sets = {"real": real}
    if VECTORS.value:
        sets["synthetic"] = synthetic_set(_load(real)[1].shape[1])
    from keras_panns.runtimes.cpu import cpu_info

    result = {"cpu": cpu_info()[0], "cores": os.cpu_count(), "sets": {}}
    for name, folder in sets.items():
        print(f"{name}: {folder}", flush=True)
        truth(folder)
        result["sets"][name] = [row for candidate in CANDIDATES.value for row in _run(candidate, folder)]
        if OUT.value:
            with open(OUT.value, "w") as f:
                json.dump(result, f, indent=1)
            with open(os.path.splitext(OUT.value)[0] + ".md", "w") as f:
                f.write(_markdown(result))
    print(_markdown(result))


if __name__ == "__main__":
    app.run(main)
