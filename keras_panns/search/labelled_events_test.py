"""Event points and event metrics on an index: span labels joined to its events, through sed_scores_eval.

The index holds events drawn per file: each true Dog event is found (most of the time) with its boundaries
a little off and a peak from Beta(5, 2); false alarms peak from Beta(2, 5). So the best high lies between
the two, a higher one loses events and a lower one keeps false alarms.
"""

import json

import numpy as np
import pandas as pd
import pytest

from keras_panns import event_metrics
from keras_panns.archive.store import IndexStore
from keras_panns.decisions import OperatingPoints
from keras_panns.errors import ArchiveError
from keras_panns.search.index import Index
from keras_panns.search.labelled import calibrate_index
from keras_panns.search.labelled_events import EventSet, choose_event_points, evaluate_events, framewise_events
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"
FILES, SECONDS = 24, 10


def _draw(seed=0):
    rng = np.random.default_rng(seed)
    truth, events = [], []
    for file in range(FILES):
        path = f"/archive/rec{file:02d}.wav"
        t = rng.uniform(0.2, 2.0)
        while t < SECONDS - 1.5:
            length = rng.uniform(0.4, 1.2)
            truth.append((path, t, t + length))
            if rng.uniform() < 0.85:
                onset, offset = t + rng.normal(0, 0.05), t + length + rng.normal(0, 0.05)
                events.append((path, "Dog", 1, max(onset, 0.0), offset, rng.beta(5, 2)))
            t += length + rng.uniform(1.0, 3.0)
        for _ in range(rng.integers(0, 3)):
            onset = rng.uniform(0, SECONDS - 1)
            covered = any(a - 0.5 < onset < b + 0.5 for p, a, b in truth if p == path)
            if not covered:
                events.append((path, "Dog", 1, onset, onset + rng.uniform(0.2, 0.6), rng.beta(2, 5)))
        events.append((path, "Music", 2, 0.0, float(SECONDS), 0.3))  # a class without labels
    return truth, events


def _write(root, truth, events):
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest["outputs"] = ["events", "scores", "tags"]
    manifest["hop_seconds"] = 1.0
    manifest["events"] = {"high": 0.05, "low": 0.02, "median_window": 1, "min_duration": 0.0}
    store = IndexStore(root)
    store.open(manifest)
    for file in range(FILES):
        path = f"/archive/rec{file:02d}.wav"
        mine = [e for e in events if e[0] == path]
        windows = []
        for w in range(SECONDS):
            dog = max([s for p, lab, _, a, b, s in mine if lab == "Dog" and a < w + 1 and b > w] + [0.01])
            windows.append(
                dict(
                    path=path,
                    window=w,
                    start=float(w),
                    end=w + 1.0,
                    top_labels=["Dog", "Music"],
                    top_scores=[dog, 0.3],
                    scores=[0.01, float(dog), 0.3],
                )
            )
        rows = [
            dict(path=p, label=lab, class_index=c, onset=a, offset=b, score=float(s)) for p, lab, c, a, b, s in mine
        ]
        store.commit(
            {
                "files": [
                    dict(
                        path=path,
                        size=1,
                        mtime=1.0,
                        duration=float(SECONDS),
                        sample_rate=32000,
                        channels=1,
                        windows=SECONDS,
                        status="ok",
                    )
                ],
                "windows": windows,
                "events": rows,
            }
        )
    return Index(root)


def _labels(truth):
    rows = [dict(path=p, start=a, end=b, label="Dog", label_type="positive") for p, a, b in truth]
    for file in range(FILES):  # the rest of each file: no dog, labelled second by second
        path = f"/archive/rec{file:02d}.wav"
        for w in range(SECONDS):
            if not any(p == path and a < w + 1 and b > w for p, a, b in truth):
                rows.append(dict(path=path, start=float(w), end=w + 1.0, label="Dog", label_type="negative"))
    return pd.DataFrame(rows, columns=["path", "start", "end", "label", "label_type"])


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    truth, events = _draw()
    index = _write(tmp_path_factory.mktemp("events") / "index", truth, events)
    return index, truth, _labels(truth)


def test_the_event_high_is_the_best_collar_f1_and_holds_on_held_out_files(drawn):
    index, truth, labels = drawn
    points, too_few = choose_event_points(index, labels, ["Dog", "Music"], min_events=5)
    assert too_few == ["Music"]  # no span labels of it
    dog = points["Dog"]
    assert dog["support"] == {"events": len(truth), "files": FILES}
    assert dog["low"] == pytest.approx(0.02)
    assert 0.2 < dog["high"] < 0.8  # between the false alarms' peaks and the true events'

    # No high does better on sed_scores_eval's collar F1 than the chosen one.
    data = EventSet(index, labels)
    f1_at = lambda high: event_metrics.collar_scores(data.tables, data.truth, {"Dog": high})["Dog"]["f1"]  # noqa: E731
    assert f1_at(dog["high"]) == pytest.approx(dog["f1"])
    for high in np.linspace(0.05, 0.95, 19):
        assert f1_at(high) <= dog["f1"] + 1e-12
    held = dog["held_out"]
    assert 0.6 < held["f1"] <= dog["f1"] + 0.05
    assert held["precision_ci"][0] <= held["precision"] <= held["precision_ci"][1]


def test_calibrate_adds_the_event_points_and_detection_applies_them(drawn, tmp_path):
    index, truth, labels = drawn
    from keras_panns.archive.annotations import Annotations

    Annotations(index.path, index.labels).add(labels, provenance="test")
    points = calibrate_index(Index(index.path), "f1", min_labels=5)
    assert "events" in points.classes["Dog"]
    points.save(tmp_path / "points.json")
    loaded = OperatingPoints.load(tmp_path / "points.json", model=index.manifest)
    high, low = loaded.event_thresholds(index.labels, high=0.5, low=0.2)
    assert high[1] == pytest.approx(points.classes["Dog"]["events"]["high"]) and low[1] == pytest.approx(0.02)
    assert (high[[0, 2]] == 0.5).all() and (low[[0, 2]] == 0.2).all()

    # The detector at the class's own high keeps exactly the index's events whose peak reaches it.
    from keras_panns.events import detect_events

    framewise = np.zeros((1000, 3), np.float32)
    framewise[100:200, 1] = high[1] + 0.01  # a Dog event over its own high
    framewise[300:400, 1] = high[1] - 0.01  # one under it
    framewise[500:600, 0] = 0.45  # Speech under its default 0.5
    found = detect_events(framewise, labels=index.labels, high=high, low=low)
    assert [(e.label, e.onset) for e in found] == [("Dog", 1.0)]


def test_evaluate_reports_psds_and_f1_as_sed_scores_eval_computes_them(drawn):
    index, truth, labels = drawn
    report = evaluate_events(index, labels, high=0.5)
    data = EventSet(index, labels)
    assert report["files"] == FILES and report["hours"] == pytest.approx(FILES * SECONDS / 3600)
    assert report["psds1"] == pytest.approx(event_metrics.psds(data.tables, data.truth, data.durations, 1))
    assert 0 < report["psds2"] <= 1
    (dog,) = report["classes"]
    expected = event_metrics.collar_scores(data.tables, data.truth, {"Dog": 0.5})["Dog"]
    assert dog["collar_f1"] == pytest.approx(expected["f1"]) and dog["events"] == len(truth)
    assert 0 <= dog["segment_f1"] <= 1


def test_an_index_without_events_or_span_labels_is_named(drawn, tmp_path):
    index, truth, labels = drawn
    with pytest.raises(ArchiveError, match="--outputs events"):
        EventSet(Index(_no_events(tmp_path)), labels)
    clip_labels = labels.assign(start=np.nan, end=np.nan)
    with pytest.raises(ArchiveError, match="no span labels"):
        EventSet(index, clip_labels)


def _no_events(tmp_path):
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest["outputs"] = ["scores", "tags"]
    store = IndexStore(tmp_path / "plain")
    store.open(manifest)
    return tmp_path / "plain"


def test_the_calibrate_and_evaluate_commands_choose_and_report_event_points(tmp_path, capsys):
    from keras_panns.cli.main import main

    truth, events = _draw(seed=1)
    index = _write(tmp_path / "index", truth, events)
    labels = tmp_path / "labels.csv"
    _labels(truth).to_csv(labels, index=False)
    assert main(["keras-panns", "label", str(index.path), "--import", str(labels)]) == 0
    points = tmp_path / "points.json"
    assert main(["keras-panns", "calibrate", str(index.path), "--target", "f1", "--out", str(points)]) == 0
    out = capsys.readouterr().out
    assert "events: class" in out and "Dog" in out.split("events: class")[1]
    chosen = OperatingPoints.load(points, model=index.manifest).classes["Dog"]["events"]

    assert main(["keras-panns", "evaluate", "--index", str(index.path), "--events", "--format", "json"]) == 0
    at_index_high = json.loads(capsys.readouterr().out)
    argv = ["keras-panns", "evaluate", "--index", str(index.path), "--events", "--operating_points", str(points)]
    assert main([*argv, "--format", "json"]) == 0
    at_points = json.loads(capsys.readouterr().out)
    (dog,) = at_points["classes"]
    assert dog["high"] == pytest.approx(chosen["high"]) and dog["collar_f1"] == pytest.approx(chosen["f1"])
    # The index's own high (0.05) keeps every false alarm: the chosen high does better on the same labels.
    assert dog["collar_f1"] > at_index_high["classes"][0]["collar_f1"]
    assert at_points["psds1"] == at_index_high["psds1"]  # PSDS is over every high, not one
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"{FILES} files" in text and "PSDS1" in text and "Dog" in text
    # --choose_low runs the index's model again: this index does not say where it came from.
    assert main(["keras-panns", "calibrate", str(index.path), "--choose_low", "--out", str(points)]) == 1
    assert "give --checkpoint" in capsys.readouterr().err
    assert main(["keras-panns", "evaluate", "--index", str(index.path), "--high", "0.3"]) == 2
    assert "--high goes with --events" in capsys.readouterr().err


def _framewise(truth, false_alarms, rate=100):
    """Dog scores 0.9 over each true span with a 0.35 shoulder of 0.6 s either side; false alarms peak at 0.5."""
    framewise = {}
    for file in range(FILES):
        path = f"/archive/rec{file:02d}.wav"
        dog = np.full(SECONDS * rate, 0.02, np.float32)
        for p, a, b in truth:
            if p == path:
                dog[max(0, int((a - 0.6) * rate)) : int((b + 0.6) * rate)] = np.maximum(
                    dog[max(0, int((a - 0.6) * rate)) : int((b + 0.6) * rate)], 0.35
                )
        for p, a, b in truth:
            if p == path:
                dog[int(round(a * rate)) : int(round(b * rate))] = 0.9
        for p, onset in false_alarms:
            if p == path and not any(q == path and a - 1 < onset < b + 1 for q, a, b in truth):
                dog[int(onset * rate) : int((onset + 0.3) * rate)] = 0.5
        framewise[path] = (np.stack([np.full_like(dog, 0.01), dog, np.full_like(dog, 0.3)], axis=1), float(rate))
    return framewise


def test_with_framewise_scores_the_low_is_chosen_too(drawn):
    index, truth, labels = drawn
    rng = np.random.default_rng(3)
    alarms = [(f"/archive/rec{rng.integers(FILES):02d}.wav", rng.uniform(0, SECONDS - 1)) for _ in range(30)]
    framewise = _framewise(truth, alarms)
    points, _ = choose_event_points(index, labels, ["Dog"], min_events=5, framewise=framewise)
    dog = points["Dog"]
    # Lows up to the shoulder stretch every event 0.6 s past the 200 ms collar; above it the spans are exact.
    assert 0.35 < dog["low"] <= 0.9 and 0.5 <= dog["high"] < 0.9
    assert dog["f1"] == pytest.approx(1.0) and dog["held_out"]["f1"] == pytest.approx(1.0)
    shoulder = EventSet(index, labels, events=framewise_events(framewise, index.labels, ["Dog"], 0.2))
    at_shoulder = event_metrics.best_collar_thresholds(shoulder.tables, shoulder.truth, ["Dog"])["Dog"][1]
    assert at_shoulder < 0.5
    # Without them, the low is the index's.
    assert choose_event_points(index, labels, ["Dog"], min_events=5)[0]["Dog"]["low"] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="no framewise scores for 1 files"):
        choose_event_points(index, labels, ["Dog"], framewise=dict(list(framewise.items())[1:]))
