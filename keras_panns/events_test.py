import csv
import io
import json

import numpy as np
import pytest

from keras_panns.events import detect_events, events_to_csv, events_to_json, median_smooth


def _scores():
    scores = np.zeros((100, 3), np.float32)
    scores[10:20, 0] = [0.3, 0.4, 0.6, 0.9, 0.45, 0.25, 0.7, 0.3, 0.21, 0.1]  # one event 10..19 (>= low)
    scores[50:55, 0] = 0.4  # never reaches high: no event
    scores[30:40, 2] = 0.8
    scores[35, 2] = 0.1  # a one-frame dip splits it unless smoothed
    return scores


def test_hysteresis_keeps_runs_above_low_that_reach_high():
    events = detect_events(_scores(), labels=["a", "b", "c"], high=0.5, low=0.2)
    assert [(e.label, e.onset, e.offset) for e in events] == [("a", 0.10, 0.19), ("c", 0.30, 0.35), ("c", 0.36, 0.40)]
    assert events[0].score == pytest.approx(0.9)


def test_median_smoothing_bridges_a_one_frame_dip():
    events = detect_events(_scores(), high=0.5, low=0.2, median_window=3)
    c_events = [e for e in events if e.index == 2]
    assert len(c_events) == 1 and (c_events[0].onset, c_events[0].offset) == (0.30, 0.40)
    assert events[0].label == "class_0"


def test_min_duration_and_frame_rate_and_offset():
    events = detect_events(_scores(), frame_rate=50.0, high=0.5, low=0.2, min_duration=0.15, start_time=60.0)
    assert [(e.index, e.onset, e.offset) for e in events] == [(0, 60.2, 60.38)]


def test_bad_thresholds_and_shapes():
    with pytest.raises(ValueError, match="low <= high"):
        detect_events(_scores(), high=0.2, low=0.5)
    with pytest.raises(ValueError, match="frames, classes"):
        detect_events(np.zeros(10))


def test_csv_and_json_round_trip():
    events = detect_events(_scores(), labels=["a, with comma", "b", "c"])
    rows = list(csv.DictReader(io.StringIO(events_to_csv(events))))
    assert rows[0]["label"] == "a, with comma" and float(rows[0]["onset"]) == 0.1
    assert [r["label"] for r in rows] == [e.label for e in events]
    assert json.loads(events_to_json(events))[1]["offset"] == 0.35


def test_median_smooth_identity_for_window_one():
    x = np.random.RandomState(0).rand(20, 2)
    assert median_smooth(x, 1) is not None and np.array_equal(median_smooth(x, 1), x)


def _reference_events(framewise, frame_rate, high, low, median_window, min_duration):
    """The whole-array algorithm (the streaming detector must equal it)."""
    scores = median_smooth(framewise, median_window)
    events = []
    for index in np.flatnonzero(scores.max(axis=0) >= high):
        active = np.concatenate([[False], scores[:, index] >= low, [False]])
        edges = np.flatnonzero(np.diff(active.astype(np.int8)))
        for start, end in zip(edges[0::2], edges[1::2]):
            peak = float(scores[start:end, index].max())
            if peak >= high and (end - start) / frame_rate >= min_duration:
                events.append((int(index), start / frame_rate, end / frame_rate, round(peak, 6)))
    return sorted(events, key=lambda e: (e[1], e[0]))


@pytest.mark.parametrize("median_window", [1, 2, 5, 8])
def test_streaming_detector_equals_whole_array_detection(median_window):
    from keras_panns.events import EventDetector

    rng = np.random.RandomState(median_window)
    # Smooth random curves so runs span chunk boundaries.
    t = np.arange(700)[:, None]
    framewise = 0.5 + 0.4 * np.sin(t * rng.uniform(0.02, 0.1, 6) + rng.uniform(0, 6, 6))
    framewise = (framewise + rng.normal(0, 0.08, framewise.shape)).astype(np.float32)
    expected = _reference_events(framewise, 100.0, 0.7, 0.4, median_window, 0.03)
    assert len(expected) > 10
    detector = EventDetector(
        6, labels=list("abcdef"), high=0.7, low=0.4, median_window=median_window, min_duration=0.03
    )
    cuts = np.sort(rng.choice(np.arange(1, 700), 25, replace=False))
    for chunk in np.split(framewise, cuts):
        detector.update(chunk)
    detector.update(np.zeros((0, 6), np.float32))
    got = sorted(
        ((e.index, e.onset, e.offset, round(e.score, 6)) for e in detector.finish()), key=lambda e: (e[1], e[0])
    )
    assert got == expected
    whole = detect_events(framewise, high=0.7, low=0.4, median_window=median_window, min_duration=0.03)
    assert [(e.index, e.onset, e.offset) for e in whole] == [e[:3] for e in expected]
