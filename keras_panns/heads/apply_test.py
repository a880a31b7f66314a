"""A head applied to an index: every window scored into the index's own tables, resumed, grown and searched."""

import json

import numpy as np
import pytest

from keras_panns.archive import head_tables
from keras_panns.archive.store import IndexStore
from keras_panns.errors import ArchiveError
from keras_panns.heads import apply as apply_module
from keras_panns.heads.apply import apply_head, run_events
from keras_panns.heads.data_test import FILES, WINDOWS, _labels, _write
from keras_panns.heads.head import load_head, train_index_head
from keras_panns.search.index import Index


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An index of 4 parts and a head trained on it (`cuckoo.head`)."""
    root = tmp_path_factory.mktemp("apply")
    index = _write(root / "index", numbered=False)
    train_index_head(index, _labels(), root / "cuckoo.head", ["cuckoo"], epochs=60, folds=2)
    return root


@pytest.fixture
def index(trained, tmp_path):
    """A fresh copy of the index for each test (applying writes into it)."""
    import shutil

    shutil.copytree(trained / "index", tmp_path / "index")
    return Index(tmp_path / "index")


def _grow(index, files=2):
    """Commits `files` more files, as a rerun of the job over a grown folder would."""
    store = IndexStore(index.path)
    store.open(index.manifest)
    rows, windows = [], []
    for file in range(FILES, FILES + files):
        path = f"/archive/rec{file:02d}.wav"
        rows.append(dict(path=path, size=1, mtime=1.0, duration=float(WINDOWS), sample_rate=32000, channels=1,
                         windows=WINDOWS, status="ok"))  # fmt: skip
        for w in range(WINDOWS):
            loud = 3.0 if 2 <= w <= 4 else 0.0
            window = dict(path=path, window=w, start=float(w), end=w + 1.0, embedding=[0.0, loud, 0.0, 0.0])
            if "scores" in index.outputs:
                window["scores"] = [0.1, 0.2, 0.3]
            windows.append(window)
    store.commit({"files": rows, "windows": windows})
    return Index(index.path)


def test_every_window_is_scored_into_the_index_and_searchable(index, trained):
    report = apply_head(index, trained / "cuckoo.head", events=True)
    assert report.name == "cuckoo" and report.scored_parts == 4 and report.kept_parts == 0
    assert report.scored_windows == FILES * WINDOWS and report.events > 0
    head, card = load_head(trained / "cuckoo.head")
    expected = np.asarray(head.predict(index.embeddings(), verbose=0))
    np.testing.assert_allclose(index.head_scores("cuckoo"), expected, rtol=1e-5, atol=1e-6)
    record = index.heads["cuckoo"]
    assert (
        record["classes"] == ["cuckoo"]
        and record["thresholds"]["cuckoo"] == card.classes["cuckoo"]["point"]["threshold"]
    )
    found = index.search(label="cuckoo", min_score=0.5, top=100)
    assert len(found) and set(found.label) == {"cuckoo"} and (found.score >= 0.5).all()
    calls = found.start.between(2, 4) & (found.path.str[-6:-4].astype(int) % 2 == 0)
    assert calls.mean() > 0.8
    files = index.search(label="cuckoo", min_score=0.5, level="files", top=20)
    assert set(files.path) <= set(found.path) and (files.windows >= 1).all()
    events = index.search(label="cuckoo", min_score=0.5, level="events", top=100)
    assert len(events) and (events.offset > events.onset).all() and (events.score >= 0.5).all()
    # an event is a run of consecutive windows over the point: it covers exactly those windows
    for _, event in index.head_events("cuckoo").iterrows():
        scores = index.head_scores("cuckoo")[:, 0]
        inside = (
            (index.windows.path == event.path)
            & (index.windows.start >= event.onset)
            & (index.windows.end <= event.offset)
        )
        assert (scores[inside.to_numpy()] >= record["thresholds"]["cuckoo"]).all()
        assert np.isclose(scores[inside.to_numpy()].max(), event.score)


def test_an_interrupted_apply_resumes_and_counts_nothing_twice(index, trained, monkeypatch):
    clean = Index(index.path)
    calls = {"n": 0}
    real = apply_module.run_events

    def dies_on_the_third_part(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args)

    monkeypatch.setattr(apply_module, "run_events", dies_on_the_third_part)
    with pytest.raises(KeyboardInterrupt):
        apply_head(index, trained / "cuckoo.head", events=True)
    assert len(head_tables.scored_parts(index.path, "cuckoo")) == 2
    with pytest.raises(ArchiveError, match="2 of 4 windows parts .* no scores of head 'cuckoo'.*classify apply"):
        index.head_scores("cuckoo")
    monkeypatch.setattr(apply_module, "run_events", real)
    report = apply_head(index, trained / "cuckoo.head", events=True)
    assert (report.scored_parts, report.kept_parts) == (2, 2)
    again = apply_head(index, trained / "cuckoo.head", events=True)  # nothing left to do
    assert (again.scored_parts, again.kept_parts, again.events) == (0, 4, 0)
    head, _ = load_head(trained / "cuckoo.head")
    np.testing.assert_allclose(
        index.head_scores("cuckoo"), head.predict(clean.embeddings(), verbose=0), rtol=1e-5, atol=1e-6
    )
    events = index.head_events("cuckoo")
    assert not events.duplicated(["path", "label", "onset"]).any()
    assert len(events) == len(run_events(*_columns(index), ["cuckoo"], index.heads["cuckoo"]["thresholds"]))


def _columns(index):
    windows = index.windows
    return (
        windows.path.to_numpy(),
        windows.window.to_numpy(),
        windows.start.to_numpy(),
        windows.end.to_numpy(),
        index.head_scores("cuckoo"),
    )


def test_a_grown_index_scores_only_its_new_windows_and_retired_parts_go(index, trained):
    apply_head(index, trained / "cuckoo.head")
    grown = _grow(index)
    with pytest.raises(ArchiveError, match="1 of 5 windows parts .*the index grew"):
        grown.head_scores("cuckoo")
    report = apply_head(grown, trained / "cuckoo.head")
    assert (report.scored_parts, report.scored_windows, report.kept_parts) == (1, 2 * WINDOWS, 4)
    scores = grown.head_scores("cuckoo")[:, 0]
    new = grown.windows.path.isin(["/archive/rec12.wav", "/archive/rec13.wav"]).to_numpy()
    loud = new & grown.windows.window.between(2, 4).to_numpy()
    assert scores[loud].min() > scores[new & ~loud].max()  # the head sees the new calls
    IndexStore(grown.path).retire(["/archive/rec00.wav"])
    shrunk = Index(grown.path)
    report = apply_head(shrunk, trained / "cuckoo.head")
    assert (report.scored_parts, report.removed_parts) == (1, 1)  # the rewritten part is new; the old one is gone
    assert len(shrunk.head_scores("cuckoo")) == len(shrunk.windows) == (FILES + 1) * WINDOWS


def test_another_head_under_the_same_name_is_refused_unless_replaced(index, trained, tmp_path):
    apply_head(index, trained / "cuckoo.head")
    other = tmp_path / "cuckoo.head"
    train_index_head(index, _labels(), other, ["cuckoo"], epochs=2, folds=2, seed=1)
    with pytest.raises(ArchiveError, match="another head named 'cuckoo' .*head_sha256.*--replace"):
        apply_head(index, other)
    with pytest.raises(ArchiveError, match="events: False there, True now"):
        apply_head(index, trained / "cuckoo.head", events=True)
    report = apply_head(index, other, replace=True)
    assert report.scored_parts == 4 and index.heads["cuckoo"]["head"] == str(other)
    with pytest.raises(ArchiveError, match="head name '../x'"):
        apply_head(index, other, "../x")
    with pytest.raises(ArchiveError, match=r"no head 'owl' was applied .*\(applied: cuckoo\)"):
        index.head_scores("owl")
    with pytest.raises(ArchiveError, match="without events"):
        index.head_events("cuckoo")


def test_a_head_of_another_index_model_is_refused(index, trained, tmp_path):
    other = _write(tmp_path / "other", numbered=False)
    manifest = dict(other.manifest, weights_sha256="1" * 64)  # the same windows, another model's weights
    (tmp_path / "other" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArchiveError, match="trained on weights_sha256"):
        apply_head(Index(tmp_path / "other"), trained / "cuckoo.head")
    plain = _write(tmp_path / "plain", outputs=("scores",))
    with pytest.raises(ArchiveError, match="--outputs .*embeddings"):
        apply_head(plain, trained / "cuckoo.head")


def test_events_are_runs_of_consecutive_windows_of_one_file():
    paths = ["a", "a", "a", "a", "b", "b", "b"]
    windows = [0, 1, 2, 3, 0, 1, 3]  # b's window 2 is missing: its windows 1 and 3 are not one run
    scores = np.array([[0.9], [0.8], [0.1], [0.7], [0.6], [0.9], [0.9]], np.float32)
    starts = np.array(windows, float)
    rows = run_events(paths, windows, starts, starts + 1, scores, ["x"], {"x": 0.5})
    assert [(r["path"], r["onset"], r["offset"], round(r["score"], 2)) for r in rows] == [
        ("a", 0.0, 2.0, 0.9),
        ("a", 3.0, 4.0, 0.7),
        ("b", 0.0, 2.0, 0.9),
        ("b", 3.0, 4.0, 0.9),
    ]
    assert run_events([], [], [], [], np.zeros((0, 1)), ["x"], {"x": 0.5}) == []


def test_the_classify_command_applies_and_search_finds_the_head_class(index, trained, capsys):
    from keras_panns.cli.main import main

    argv = ["keras-panns", "classify", "apply", index.path, "--head", str(trained / "cuckoo.head")]
    assert main([*argv, "--name", "birds", "--events", "--noprogress"]) == 0
    assert "birds: scored 120 windows in 4 parts" in capsys.readouterr().out
    assert main(["keras-panns", "search", index.path, "--label", "cuckoo", "--min_score", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "cuckoo" in out and "rec00.wav" in out


def test_margin_proposes_windows_near_the_threshold_spread_out():
    """20 near-copies sit exactly on the threshold, 10 different sounds a little off it: a page of 5 shows one
    of the copies and 4 of the others (by embedding), or one window per file without embeddings."""
    import types

    import pandas as pd

    from keras_panns.search.review import margin_windows

    rng = np.random.default_rng(0)
    copies = np.tile(rng.normal(size=8), (20, 1)) + rng.normal(0, 1e-3, (20, 8))
    others = rng.normal(size=(10, 8))
    vectors = np.concatenate([copies, others]).astype(np.float32)
    scores = np.r_[np.full(20, 0.4), np.full(10, 0.45)]
    paths = [f"f{i // 2}" for i in range(30)]
    fake = types.SimpleNamespace(dims=8, embeddings=lambda rows: vectors[rows], windows=pd.DataFrame({"path": paths}))
    picked = margin_windows(fake, scores, np.arange(30), 0.4, 5)
    assert len(picked) == 5 and picked[0] < 20 and (picked < 20).sum() == 1
    fake.dims = 0
    picked = margin_windows(fake, scores, np.arange(30), 0.4, 5)
    assert [paths[r] for r in picked] == ["f0", "f1", "f2", "f3", "f4"]  # one per file, nearest first


def test_review_margin_of_a_head_class_writes_a_page_for_own_class_labels(index, trained, tmp_path, capsys):
    from keras_panns.cli.main import main
    from keras_panns.search.review import propose

    apply_head(index, trained / "cuckoo.head")
    threshold = index.heads["cuckoo"]["thresholds"]["cuckoo"]
    proposals = propose(index, "cuckoo", "margin", 8)
    scores = index.head_scores("cuckoo")[:, 0]
    assert len(proposals) == 8 and np.isin(proposals.score, scores).all()
    pool = np.sort(np.abs(scores - threshold))[: 10 * 8]
    assert (np.abs(proposals.score - threshold) <= pool.max() + 1e-9).all()
    out = tmp_path / "review.html"
    argv = ["keras-panns", "review", index.path, "--label", "cuckoo", "--strategy", "margin", "--n", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "--import FILE --own_classes" in out.read_text() and "4 windows to review" in capsys.readouterr().err


def test_evaluate_takes_a_heads_classes_on_own_class_labels(index, trained, tmp_path, capsys):
    """The head's AP on the labels, as scikit-learn computes it on the head's scores of the labelled windows."""
    from sklearn.metrics import average_precision_score

    from keras_panns.cli.main import main
    from keras_panns.search.labelled import evaluate_index

    apply_head(index, trained / "cuckoo.head")
    labels = _labels()
    (record,) = [r for r in evaluate_index(index, labels, head="cuckoo", resamples=20)]
    windows = index.windows
    spans = labels[(labels.label == "cuckoo") & labels.start.notna()]
    positive = np.zeros(len(windows), bool)
    for span in spans[spans.label_type == "positive"].itertuples():
        positive |= ((windows.path == span.path) & windows.start.between(span.start, span.end - 1)).to_numpy()
    assert record["name"] == "cuckoo" and record["positives"] == 18
    assert record["threshold"] == index.heads["cuckoo"]["thresholds"]["cuckoo"]
    assert record["ap"] > 0.8
    scores = index.head_scores("cuckoo")[:, 0]
    negatives_of_files = labels[(labels.label == "cuckoo") & labels.start.isna()].path
    clip_best = [scores[(windows.path == p).to_numpy()].max() for p in negatives_of_files]
    span_rows = np.flatnonzero(
        np.logical_or.reduce(
            [
                ((windows.path == s.path) & windows.start.between(s.start, s.end - 1)).to_numpy()
                for s in spans.itertuples()
            ]
        )
    )
    truth = np.r_[positive[span_rows], np.zeros(len(clip_best), bool)]
    expected = average_precision_score(truth, np.r_[scores[span_rows], clip_best])
    assert abs(record["ap"] - expected) < 1e-6
    csv = tmp_path / "labels.csv"
    labels.to_csv(csv, index=False)
    argv = ["keras-panns", "evaluate", "--index", index.path, "--head", "cuckoo", "--labels", str(csv)]
    assert main([*argv, "--format", "json", "--resamples", "20"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "cuckoo"
    assert main([*argv, "--events"]) == 2


def test_the_report_counts_each_head_class_at_its_point(trained, tmp_path):
    from keras_panns.search.report import build_report

    index = _write(tmp_path / "index", outputs=("embeddings", "scores"), numbered=False)  # a report needs scores
    apply_head(index, trained / "cuckoo.head")
    threshold = index.heads["cuckoo"]["thresholds"]["cuckoo"]
    over = index.head_scores("cuckoo")[:, 0] >= threshold
    page = build_report(index)
    assert "Your own classes (heads)" in page
    row = page[page.index("<td>cuckoo</td>") :]
    assert f"<td>{int(over.sum())}</td>" in row[: row.index("</tr>")]
    grown = _grow(index)
    assert "Applied before the index grew (apply again to count them): cuckoo." in build_report(grown)
