"""The vector index of an index's embeddings: exact search, and the usearch graph kept in step with its parts."""

import importlib.util
import json

import numpy as np
import pytest

from keras_panns.search import vectors  # noqa: E402

if importlib.util.find_spec("usearch") is None:
    pytest.skip("usearch is not installed", allow_module_level=True)
vectors.usearch_index()  # usearch imported after Ray, as the package does (see there)

DIMS = 16


def _parts(sizes, seed=0):
    rng = np.random.RandomState(seed)
    return {f"part-{i}.parquet": rng.rand(n, DIMS).astype(np.float32) for i, n in enumerate(sizes)}


def _update(graph, parts):
    names = graph.order(list(parts))
    return names, graph.update(names, lambda p: len(parts[p]), lambda ps: np.concatenate([parts[p] for p in ps]))


def test_expansion_search_follows_the_measured_points():
    assert vectors.expansion_search(100_000) == 512 and abs(vectors.expansion_search(1_000_000) - 2048) < 16
    assert vectors.expansion_search(10) == 128 and vectors.expansion_search(10**9) == 4096


def test_exact_search_ranks_by_cosine():
    data = np.random.RandomState(1).rand(50, DIMS).astype(np.float32)
    query = data[7] * 3  # the length does not matter
    rows, similarity = vectors.exact_search(data, query, 5)
    expected = np.argsort(-(vectors.unit(data) @ vectors.unit(query)))[:5]
    assert rows.tolist() == expected.tolist() and similarity[0] == pytest.approx(1.0, abs=1e-5)
    assert vectors.exact_search(data[:0], query, 5)[0].size == 0


def test_the_graph_is_extended_by_new_parts_only_and_rebuilt_when_it_does_not_match(tmp_path):
    folder = tmp_path / "vectors"
    parts = _parts([30, 20])
    names, added = _update(vectors.WindowVectors(str(folder), DIMS), parts)
    assert added == 50
    first = json.loads((folder / vectors.PARTS).read_text())["parts"]
    assert [e["part"] for e in first] == names and [e["rows"] for e in first] == [30, 20]

    parts.update({"part-a.parquet": np.random.RandomState(5).rand(10, DIMS).astype(np.float32)})
    graph = vectors.WindowVectors(str(folder), DIMS)
    names, added = _update(graph, parts)
    assert added == 10 and names[:2] == [e["part"] for e in first]  # old keys stay where they were
    everything = np.concatenate([parts[p] for p in names])
    keys, similarity = graph.search(everything[55], 3)
    assert keys[0] == 55 and similarity[0] == pytest.approx(1.0, abs=1e-2)
    assert graph._graph.expansion_search == vectors.expansion_search(60) == 128
    assert _update(vectors.WindowVectors(str(folder), DIMS), parts)[1] == 0  # nothing new: nothing added

    # A graph that does not match parts.json (a crash between the two renames) is rebuilt from scratch.
    listed = json.loads((folder / vectors.PARTS).read_text())
    listed["parts"][0]["rows"] += 1
    (folder / vectors.PARTS).write_text(json.dumps(listed))
    assert _update(vectors.WindowVectors(str(folder), DIMS), parts)[1] == 60
    # A part that left the index: the order starts again and the graph is rebuilt.
    del parts["part-0.parquet"]
    assert _update(vectors.WindowVectors(str(folder), DIMS), parts)[1] == 30


def test_rows_a_crash_left_after_the_listed_ones_are_cut_back(tmp_path):
    folder = tmp_path / "vectors"
    parts = _parts([30, 20])
    _update(vectors.WindowVectors(str(folder), DIMS), parts)
    with open(folder / vectors.FULL, "ab") as f:  # a run that died after appending, before parts.json
        f.write(np.ones((7, DIMS), np.float16).tobytes())
    parts["part-a.parquet"] = np.random.RandomState(5).rand(10, DIMS).astype(np.float32)
    graph = vectors.WindowVectors(str(folder), DIMS)
    names, added = _update(graph, parts)
    assert added == 10 and (folder / vectors.FULL).stat().st_size == 60 * DIMS * 2
    everything = vectors.unit(np.concatenate([parts[p] for p in names]))
    np.testing.assert_allclose(graph._full, everything, atol=1e-3)


def test_wide_embeddings_are_searched_in_a_projection_and_re_ranked_exactly(tmp_path):
    rng = np.random.RandomState(3)
    dims = vectors.PROJECTED * 2
    latent = rng.standard_normal((1200, 24)).astype(np.float32)
    data = np.maximum(latent @ rng.standard_normal((24, dims)).astype(np.float32), 0)
    parts = {f"part-{i}.parquet": data[i * 300 : (i + 1) * 300] for i in range(4)}
    graph = vectors.WindowVectors(str(tmp_path / "vectors"), dims)
    names = graph.order(list(parts))
    graph.update(names, lambda p: len(parts[p]), lambda ps: np.concatenate([parts[p] for p in ps]))
    assert np.load(tmp_path / "vectors" / vectors.PROJECTION).shape == (dims, vectors.PROJECTED)
    everything = np.concatenate([parts[p] for p in names])
    hits = 0
    for row in range(0, 1200, 60):
        query = everything[row] + 0.05 * rng.standard_normal(dims).astype(np.float32)
        keys, similarity = graph.search(query, 10)
        expected_keys, expected_similarity = vectors.exact_search(everything, query, 10)
        hits += len(set(keys) & set(expected_keys))
        # What a search returns is the exact cosine (to float16 storage), not the projection's estimate.
        np.testing.assert_allclose(similarity, vectors.unit(everything[keys]) @ vectors.unit(query), atol=2e-3)
    assert hits / (20 * 10) >= 0.95


def test_fit_projection_keeps_inner_products_within_its_subspace():
    rng = np.random.RandomState(4)
    basis = np.linalg.qr(rng.standard_normal((40, 5)))[0].T  # 5 directions in 40 dimensions
    sample = rng.standard_normal((200, 5)) @ basis
    projection = vectors.fit_projection(sample, dims=5)
    np.testing.assert_allclose((sample @ projection) @ (sample @ projection).T, sample @ sample.T, atol=1e-3)


def test_a_small_graph_is_built_the_same_every_time(tmp_path):
    parts = _parts([300, 200], seed=3)
    built = []
    for run in range(3):
        folder = tmp_path / f"run{run}"
        _update(vectors.WindowVectors(str(folder), DIMS), parts)
        built.append((folder / vectors.GRAPH).read_bytes())
    assert built[0] == built[1] == built[2]
