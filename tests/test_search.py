"""Search, report and perch-hoplite over a real index: made by `keras_panns.index_archive` on its own local Ray.

The index holds ESC-10 clips of four classes (1-s windows every 0.5 s, on hoplite's grid), a clip too
short for the model and a file that is not audio; the model is MobileNetV1 with the golden fixture's
weights (scores spread), saved as a preset, so the manifest says where the query model comes from.
Results are checked against numpy computed from the index's own tables, the command line is run in
this process through `keras_panns.cli.main.main`, the report is opened in headless Chromium, and
hoplite is the real perch-hoplite package.
"""

import ast
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

pytest.importorskip("ray")
pytest.importorskip("usearch")

import keras_panns  # noqa: E402
from keras_panns.cli.main import main  # noqa: E402
from keras_panns.errors import ArchiveError, AudioError, UnknownLabelError  # noqa: E402
from keras_panns.search import Index, vectors  # noqa: E402
from keras_panns.testing import REPO, SHARED, golden  # noqa: E402

ESC10 = SHARED / "data" / "esc10"
ARTIFACTS = os.environ.get("KERAS_PANNS_TEST_ARTIFACTS", str(REPO / "test-artifacts"))
WINDOW, HOP = 1.0, 0.5
HOPLITE_TOLERANCE = 2e-3  # hoplite 1.0 stores float16 vectors: similarities to about 1e-3
KERAS = {"runtime": "keras", "precision": "float32"}  # hoplite's model runs Keras: the same arithmetic


def _esc10(category, count):
    table = pd.read_csv(ESC10 / "esc10.csv")
    names = table[table["category"] == category]["filename"].head(count)
    return [ESC10 / "audio" / name for name in names]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """`(root, good clips, preset)`: 8 ESC-10 clips in good/ (32 kHz), a too-short clip and a non-audio file in
    bad/."""
    import soundfile

    if not (ESC10 / "esc10.csv").is_file():
        pytest.skip(f"{ESC10} not found")
    root = tmp_path_factory.mktemp("search_archive")
    (root / "good").mkdir()
    (root / "bad").mkdir()
    clips = []
    for category in ("dog", "rooster", "rain", "crying_baby"):
        for path in _esc10(category, 2):
            # At the model's rate: hoplite resamples with another filter (librosa's polyphase) than keras-panns
            # (soxr), and the two searches are compared on the same audio.
            clips.append(root / "good" / f"{category}_{path.name}")
            soundfile.write(clips[-1], keras_panns.load_audio(path, 32000), 32000, subtype="FLOAT")
    soundfile.write(root / "bad" / "blip.wav", np.zeros(800, np.float32), 32000)
    (root / "bad" / "notes.wav").write_text("not audio")
    preset = keras_panns.save_preset(
        golden.spread_scores(golden.fixture_model("MobileNetV1")), tmp_path_factory.mktemp("preset") / "mnv1"
    )
    return root, clips, str(preset)


@pytest.fixture(scope="module")
def index_path(archive, tmp_path_factory):
    root, _, preset = archive
    out = tmp_path_factory.mktemp("index") / "esc.index"
    summary = keras_panns.index_archive(
        [str(root)],
        out,
        preset,
        outputs=["tags", "scores", "embeddings"],
        window_seconds=WINDOW,
        hop_seconds=HOP,
        num_cpus=2,
        progress=False,
        commit_every=2,
        **KERAS,
    )
    assert summary.indexed == 8 and summary.failed == 2, summary
    return out


def _cli(capsys, *args):
    code = main(["keras-panns", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _distinct_start(index, clip):
    """A window start of `clip` whose embedding no other window shares (ESC-10 clips hold digital silence,
    whose windows embed identically: a tie that any order may break)."""
    matrix = vectors.unit(index.embeddings())
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -1)
    windows = index.windows
    for row in np.flatnonzero(windows["path"].str.endswith(clip.name).to_numpy()):
        if similarity[row].max() < 1 - 1e-4:
            return float(windows["start"].iat[row])
    raise AssertionError(f"every window of {clip} has a twin")


def _same_ranking(ours, theirs, tolerance=1e-4):
    """Two rankings of `(name, start, similarity)` agree: equal similarities, equal windows where untied."""
    np.testing.assert_allclose([s for *_, s in ours], [s for *_, s in theirs], atol=tolerance)
    sims = [s for *_, s in ours]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        tied = any(abs(sims[i] - sims[j]) < tolerance for j in (i - 1, i + 1) if 0 <= j < len(sims))
        if not tied:
            assert a[:2] == b[:2], (i, ours, theirs)


def _cosine_oracle(index, query, rows=None):
    """Rows of the windows table by cosine similarity to `query`, from numpy alone."""
    matrix = index.embeddings().astype(np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    similarity = matrix @ (query / np.linalg.norm(query))
    candidates = np.arange(len(matrix)) if rows is None else np.asarray(rows)
    return candidates[np.argsort(-similarity[candidates], kind="stable")], similarity


def test_like_finds_the_query_window_first_and_ranks_as_exact_cosine(index_path, archive, capsys):
    _, clips, _ = archive
    index = Index(index_path)
    start = _distinct_start(index, clips[0])
    code, out, err = _cli(
        capsys,
        "search",
        index_path,
        "--like",
        clips[0],
        "--start",
        start,
        "--end",
        start + WINDOW,
        "--top",
        5,
        "--format",
        "json",
    )
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["path"].endswith(clips[0].name) and rows[0]["start"] == start and rows[0]["end"] == start + 1
    assert rows[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    order, similarity = _cosine_oracle(index, index.embed(clips[0], start, start + WINDOW))
    expected = index.windows.iloc[order[:5]]
    _same_ranking(
        [(r["path"], r["start"], r["similarity"]) for r in rows],
        list(zip(expected["path"], expected["start"], similarity[order[:5]])),
    )


def test_label_and_group_rank_what_scores_at_least_min_score(index_path):
    from keras_panns.labels import group_indices

    index = Index(index_path)
    scores = index.scores()
    dog = index.labels.index("Dog")
    found = index.search(label="Dog", min_score=0.3, top=1000)
    expected = np.flatnonzero(scores[:, dog] >= 0.3)
    assert len(found) == len(expected) > 0
    assert found["score"].is_monotonic_decreasing and (found["label"] == "Dog").all()
    np.testing.assert_allclose(np.sort(found["score"].to_numpy()), np.sort(scores[expected, dog]), rtol=1e-6)

    animal = group_indices("Animal")
    group = scores[:, animal].max(axis=1)
    files = index.search(group="Animal", min_score=0.3, level="files", top=1000)
    windows = index.windows.assign(group=group)
    per_file = windows[windows["group"] >= 0.3].groupby("path").size()
    assert dict(zip(files["path"], files["windows"])) == per_file.to_dict()
    assert files["score"].to_numpy() == pytest.approx(windows.groupby("path")["group"].max()[files["path"]].to_numpy())
    assert (files["seconds"] <= 5.0 + 1e-9).all() and files["label"].map(
        lambda n: index.labels.index(n) in animal
    ).all()


def test_like_and_label_together_rank_only_the_windows_scored_as_the_label(index_path, archive):
    _, clips, _ = archive
    index = Index(index_path)
    dog = index.labels.index("Dog")
    found = index.search(like=str(clips[2]), label="Dog", min_score=0.3, top=5)
    allowed = np.flatnonzero(index.scores()[:, dog] >= 0.3)
    order, similarity = _cosine_oracle(index, index.embed(clips[2]), allowed)
    assert (found["score"] >= 0.3).all()
    np.testing.assert_allclose(found["similarity"], similarity[order[:5]], atol=1e-4)


def test_csv_and_text_formats_and_out_file(index_path, archive, capsys, tmp_path):
    _, clips, _ = archive
    out = tmp_path / "similar.csv"
    code, _, err = _cli(capsys, "search", index_path, "--like", clips[1], "--top", 3, "--format", "csv", "--out", out)
    assert code == 0 and "wrote 3 rows" in err
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", "start", "end", "similarity", "top_label"] and len(table) == 3
    code, text, _ = _cli(capsys, "search", index_path, "--group", "Vehicle", "--min_score", 0.99, "--level", "files")
    assert code == 0 and text.strip()


def test_bad_inputs_each_get_one_line_naming_the_thing(index_path, archive, capsys, tmp_path):
    root, clips, preset = archive
    code, _, err = _cli(capsys, "search", index_path, "--like", root / "bad" / "blip.wav")
    assert code == 1 and "blip.wav" in err and "shorter than" in err and "Traceback" not in err
    code, _, err = _cli(capsys, "search", index_path, "--label", "Dgo")
    assert code == 1 and "did you mean 'Dog'" in err
    code, _, err = _cli(capsys, "search", index_path, "--level", "events", "--label", "Dog")
    assert code == 1 and "holds no events" in err and "--outputs events" in err
    code, _, err = _cli(capsys, "search", index_path)
    assert code == 2 and "nothing to search for" in err
    other = keras_panns.save_preset(
        golden.spread_scores(golden.fixture_model("MobileNetV1"), factor=0.03), tmp_path / "other"
    )
    code, _, err = _cli(capsys, "search", index_path, "--like", clips[0], "--checkpoint", other)
    assert code == 1 and "weights sha256" in err and str(index_path) in err

    tags_only = tmp_path / "tags.index"  # what an index made with --outputs tags holds, as its manifest says
    shutil.copytree(index_path, tags_only)
    manifest = json.loads((tags_only / "manifest.json").read_text())
    (tags_only / "manifest.json").write_text(json.dumps({**manifest, "outputs": ["tags"]}))
    with pytest.raises(ArchiveError, match="--outputs embeddings,tags"):
        Index(tags_only).search(like=str(clips[0]))
    with pytest.raises(UnknownLabelError, match="did you mean"):
        Index(tags_only).search(group="Vehicel")

    half = tmp_path / "half.index"  # a part whose files/ part never arrived (a killed run) is not read
    shutil.copytree(index_path, half)
    files_part = sorted((half / "files").glob("part-*.parquet"))[0]
    dropped = pd.read_parquet(files_part)
    files_part.unlink()
    partial = Index(half)
    assert len(partial.files) == 10 - len(dropped)
    assert not set(dropped["path"]) & set(partial.windows["path"])
    assert len(partial.search(label="Dog", min_score=0.0, top=1000)) == len(partial.windows)

    copy = tmp_path / "corrupt.index"
    shutil.copytree(index_path, copy)
    part = sorted((copy / "windows").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    code, _, err = _cli(capsys, "search", copy, "--label", "Dog")
    assert code == 1 and part.name in err and "unreadable table part" in err
    (copy / "manifest.json").write_text("{half")
    code, _, err = _cli(capsys, "search", copy, "--label", "Dog")
    assert code == 1 and "unreadable manifest" in err
    (copy / "manifest.json").unlink()
    code, _, err = _cli(capsys, "report", copy, "--out", tmp_path / "r.html")
    assert code == 1 and "no manifest.json" in err
    with pytest.raises(AudioError):
        Index(index_path).embed(str(clips[0]), start=4.9, end=4.95)


def test_the_vector_graph_is_built_then_extended_when_the_index_grows(index_path, archive, monkeypatch, tmp_path):
    """The index as a resumed run sees it: parts whose files/ part arrives later (here held back, then back)."""
    _, clips, _ = archive
    monkeypatch.setattr("keras_panns.search.index.EXACT_BELOW", 1)  # the graph path, on a small index
    out = tmp_path / "growing.index"
    shutil.copytree(index_path, out)
    held = tmp_path / "held"
    held.mkdir()
    parts = sorted((out / "files").glob("part-*.parquet"))
    assert len(parts) >= 3, "the fixture commits every 2 files"
    for part in parts[: len(parts) // 2]:
        part.rename(held / part.name)
    first = Index(out)
    clip = next(c for c in clips if (first.windows["path"] == str(c)).any())
    start = _distinct_start(first, clip)
    query = first.embed(str(clip), start, start + WINDOW)
    found = first.search(like=str(clip), start=start, end=start + WINDOW, top=3)
    assert found["path"][0].endswith(clip.name) and found["start"][0] == start
    listed = json.loads((out / "vectors" / vectors.PARTS).read_text())["parts"]
    assert sum(entry["rows"] for entry in listed) == len(first.windows) < 72

    for part in held.iterdir():  # the rest of the files arrive
        part.rename(out / "files" / part.name)
    grown = Index(out)
    late = next(
        c for c in clips if (grown.windows["path"] == str(c)).any() and not (first.windows["path"] == str(c)).any()
    )
    start = _distinct_start(grown, late)
    found = grown.search(like=str(late), start=start, end=start + WINDOW, top=3)
    assert found["path"][0].endswith(late.name) and found["start"][0] == start
    extended = json.loads((out / "vectors" / vectors.PARTS).read_text())["parts"]
    assert extended[: len(listed)] == listed and sum(e["rows"] for e in extended) == len(grown.windows) == 72
    # The graph's keys are rows of Index.windows: its nearest window agrees with exact search.
    keys, _ = grown._vector_search(query, 5)
    exact, _ = vectors.exact_search(vectors.unit(grown.embeddings()), query, 5)
    assert keys[0] == exact[0]


def test_report_is_self_contained_and_opens_in_chromium(index_path, tmp_path, capsys):
    from keras_panns.testing import browser

    out = tmp_path / "report.html"
    code, _, err = _cli(capsys, "report", index_path, "--out", out)
    assert code == 0, err
    text = out.read_text()
    for heading in (
        "Top classes and groups by hours of audio",
        "Score distribution",
        "Windows per file",
        "Errors",
        "Map of the embeddings",
    ):
        assert heading in text
    assert "notes.wav" in text and "blip.wav" in text  # the errors, named
    if not (os.path.exists(browser.CHROMIUM) and os.path.exists(browser.CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are not installed")
        pytest.skip("chromium and chromedriver are not installed")
    pytest.importorskip("selenium")
    driver = browser.chromium()
    try:
        driver.get(out.as_uri())
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert driver.execute_script("return document.querySelectorAll('svg').length") >= 5
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('svg a'))"
            ".map((a) => a.getAttribute('xlink:href') || a.getAttribute('href'))"
        )
        assert len(links) == 72 and all(link.startswith("file://") and "#t=" in link for link in links)
        os.makedirs(ARTIFACTS, exist_ok=True)
        browser.screenshot(driver, os.path.join(ARTIFACTS, "report.png"))
    finally:
        driver.quit()


def _hoplite_db(path, dims):
    from perch_hoplite.db import sqlite_usearch_impl

    from keras_panns.search.hoplite import usearch_config

    return sqlite_usearch_impl.SQLiteUSearchDB.create(str(path), usearch_cfg=usearch_config(dims))


def _hoplite_nearest(db, query, k):
    """`[(file name, start, score)]` of hoplite's own exact search (inner product) for `query`."""
    results = db.search(query, k, approximate=False, score_fn_name="dot")
    found = []
    for result in results:
        window = db.get_window(result.window_id)
        recording = db.get_recording(window.recording_id)
        found.append(
            (os.path.basename(recording.filename), round(float(window.offsets[0]), 3), float(result.sort_score))
        )
    return found


def _ours(index, clip, start, k):
    found = index.search(like=str(clip), start=start, end=start + WINDOW, top=k)
    return [
        (os.path.basename(p), round(s, 3), float(v))
        for p, s, v in zip(found["path"], found["start"], found["similarity"])
    ]


def test_hoplite_embed_worker_with_panns_finds_what_keras_panns_search_finds(index_path, archive, tmp_path):
    pytest.importorskip("perch_hoplite")
    from perch_hoplite.agile import embed, source_info

    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel
    from keras_panns.search.hoplite import CLASS_LIST, PannsEmbeddingModel, model_config

    root, clips, preset = archive
    model = PannsEmbeddingModel(loaders.load(PANNsModel, preset), window_size_s=WINDOW, hop_size_s=HOP)
    assert model.sample_rate == 32000 and len(model.class_list().classes) == 527
    db = _hoplite_db(tmp_path / "embedded.hoplite", 1024)
    sources = source_info.AudioSources(
        (
            source_info.AudioSourceConfig(
                dataset_name="esc",
                base_path=str(root / "good"),
                file_glob="*.wav",
                min_audio_len_s=0.0,
                shard_len_s=None,
            ),
        )
    )
    embed.EmbedWorker(
        sources, model_config(model, preset), db, embedding_model=model, audio_worker_threads=1
    ).process_all()
    index = Index(index_path)
    assert db.count_embeddings() == len(index.windows[index.windows["path"].str.contains("/good/")]) == 72
    outputs = model.embed(np.zeros(32000 * 3, np.float32))
    assert outputs.embeddings.shape == (5, 1, 1024) and outputs.logits[CLASS_LIST].shape == (5, 527)

    for clip in (clips[0], clips[5]):
        start = _distinct_start(index, clip)
        theirs = _hoplite_nearest(db, model.embed(index.query_audio(clip, start, start + WINDOW)).embeddings[0, 0], 5)
        ours = _ours(index, clip, start, 5)
        assert theirs[0][:2] == ours[0][:2] == (clip.name, start)
        _same_ranking(ours, theirs, HOPLITE_TOLERANCE)


def test_an_index_is_written_into_hoplite_without_the_model(index_path, archive, tmp_path):
    pytest.importorskip("perch_hoplite")
    from keras_panns.search.hoplite import write_hoplite_db

    _, clips, _ = archive
    index = Index(index_path)
    db = write_hoplite_db(index, tmp_path / "written.hoplite")
    assert db.count_embeddings() == len(index.windows) == 72
    assert db.get_metadata("model_config").model_config.window_size_s == WINDOW
    start = _distinct_start(index, clips[3])
    ours = _ours(index, clips[3], start, 5)
    theirs = _hoplite_nearest(db, index.embed(str(clips[3]), start, start + WINDOW), 5)
    assert theirs[0][:2] == ours[0][:2] == (clips[3].name, start)
    _same_ranking(ours, theirs, HOPLITE_TOLERANCE)
    with pytest.raises(ArchiveError, match="already holds 72 windows"):
        write_hoplite_db(index, tmp_path / "written.hoplite")


def test_the_search_benchmark_measures_every_candidate(index_path, tmp_path):
    """tools/benchmark_search.py at toy sizes: each candidate's row, exact search's recall 1."""
    pytest.importorskip("faiss")
    import subprocess
    import sys

    out = tmp_path / "search.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "benchmark_search.py"),
            f"--real={index_path}",
            "--vectors=3000",
            "--queries=20",
            "--timed=10",
            f"--work={tmp_path / 'work'}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    for name in ("real", "synthetic"):
        rows = result["sets"][name]
        assert {r["candidate"] for r in rows} == {"exact", "usearch-hnsw-f16", "usearch-hnsw-i8", "faiss-ivf-flat"}
        assert all("error" not in r and 0 <= r["recall_at_10"] <= 1 and r["p99_ms"] >= r["p50_ms"] > 0 for r in rows)
        assert [r["recall_at_10"] for r in rows if r["candidate"] == "exact"] == [1.0]
    tool = ast.parse((REPO / "tools" / "benchmark_search.py").read_text())
    (expansions,) = [
        ast.literal_eval(node.value)
        for node in tool.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXPANSIONS"
    ]
    # One row per ef swept, in each of the two sets.
    assert (tmp_path / "search.md").read_text().count("| usearch-hnsw-f16 |") == 2 * len(expansions)
