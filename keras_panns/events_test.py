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
    assert [(e.label, e.onset, e.offset) for e in events] == [
        ("a", 0.10, 0.19), ("c", 0.30, 0.35), ("c", 0.36, 0.40)]
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
