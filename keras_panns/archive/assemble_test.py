"""The driver's assembler without Ray: windows in any order, twice, or failed, give each file's rows once.

The rows are what the model workers hand the driver (`job.ModelWorker`): a
file's metadata, the window's start and its scores and framewise scores as
float32 bytes. Each window's framewise scores are a slice of one known
frame grid, so stitching must give that grid back and the events must be
those an `EventDetector` finds on it in one go (what `detect_events_long`
does offline).
"""

import numpy as np
import pytest

from keras_panns.archive import schema
from keras_panns.archive.assemble import FileAssembler
from keras_panns.events import EventDetector

RATE, HOP = 32000, 320
WINDOW, STEP = 32000, 16000  # 1 s windows every 0.5 s
LABELS = ["Speech", "Dog", "Music"]
EVENTS = {"high": 0.5, "low": 0.2, "median_window": 1, "min_duration": 0.0}
MANIFEST = {
    "outputs": ["tags", "scores", "events"],
    "top_k": 2,
    "window_seconds": WINDOW / RATE,
    "sample_rate": RATE,
    "front_end": {"hop_size": HOP},
    "events": EVENTS,
    "num_classes": len(LABELS),
}


def _grid(seconds, seed):
    """A file's true framewise scores: a few on/off runs per class, so events cross window borders."""
    frames = 1 + seconds * RATE // HOP
    rng = np.random.RandomState(seed)
    grid = np.full((frames, len(LABELS)), 0.05, np.float32)
    for c in range(len(LABELS)):
        for onset in rng.randint(0, frames - 40, size=3):
            grid[onset : onset + rng.randint(10, 120), c] = 0.9
    return grid


def _rows(path, grid, seconds):
    """What the model workers hand the driver for every window of one file."""
    num_samples = seconds * RATE
    starts = list(range(0, num_samples - WINDOW + 1, STEP))
    meta = dict(path=path, size=100, mtime=1.0, total=len(starts), num_samples=num_samples)
    meta.update(duration=float(seconds), sample_rate=RATE, channels=1)
    assert set(meta) == set(schema.in_flight())
    rows = []
    for window, start in enumerate(starts):
        frames = grid[start // HOP : start // HOP + 1 + WINDOW // HOP]
        rows.append(
            dict(
                meta,
                window=window,
                start=start,
                scores=frames.max(axis=0).tobytes(),
                embedding=b"",
                framewise=frames.tobytes(),
                error_reason="",
                error_class="",
            )
        )
    return rows


def _batches(rows, size):
    keys = rows[0].keys()
    for first in range(0, len(rows), size):
        chunk = rows[first : first + size]
        yield {key: np.array([row[key] for row in chunk], dtype=object) for key in keys}


def _assemble(rows, batch_size=3):
    assembler = FileAssembler(MANIFEST, LABELS)
    finished = []
    for batch in _batches(rows, batch_size):
        finished += assembler.add(batch)
    return finished, assembler


def _reference_events(grid):
    detector = EventDetector(len(LABELS), frame_rate=RATE / HOP, labels=LABELS, **EVENTS)
    detector.update(grid)
    return [(e.label, e.onset, e.offset, e.score) for e in detector.finish()]


def _plain(finished):
    """Finished files' rows with arrays as lists, sorted by path, for comparing two runs."""
    plain = lambda value: value.tolist() if isinstance(value, np.ndarray) else value  # noqa: E731
    rows = [
        {table: [{k: plain(v) for k, v in row.items()} for row in found] for table, found in f.items()}
        for f in finished
    ]
    return sorted(rows, key=lambda f: f["files"][0]["path"])


def _events(finished):
    return [(e["label"], e["onset"], e["offset"], e["score"]) for e in finished["events"]]


@pytest.fixture(scope="module")
def files():
    return {"a.wav": (_grid(6, 0), 6), "b.wav": (_grid(4, 1), 4)}


def test_in_order_each_file_gives_its_rows_once_and_the_offline_events(files):
    rows = _rows("a.wav", *files["a.wav"]) + _rows("b.wav", *files["b.wav"])
    finished, assembler = _assemble(rows)
    assert [f["files"][0]["path"] for f in finished] == ["a.wav", "b.wav"] and not assembler.open
    for done in finished:
        path = done["files"][0]["path"]
        grid, seconds = files[path]
        assert done["files"][0] == dict(
            path=path, size=100, mtime=1.0, duration=float(seconds), sample_rate=RATE, channels=1,
            windows=len(done["windows"]), status="ok",
        )  # fmt: skip
        assert [w["window"] for w in done["windows"]] == list(range(2 * seconds - 1))
        assert _events(done) == _reference_events(grid) and _events(done)
        assert set(done["windows"][0]) == set(schema.table("windows").names(MANIFEST["outputs"]))
        assert set(done["events"][0]) == set(schema.table("events").names())


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_duplicated_and_retried_windows_change_nothing(files, seed):
    rows = _rows("a.wav", *files["a.wav"]) + _rows("b.wav", *files["b.wav"])
    expected, _ = _assemble(rows)
    rng = np.random.RandomState(seed)
    # A retried task delivers some windows again, before or after the file is finished.
    again = [rows[i] for i in rng.choice(len(rows), size=6, replace=False)]
    shuffled = [rows[i] for i in rng.permutation(len(rows))] + again
    shuffled.insert(2, again[0])
    got, assembler = _assemble(shuffled, batch_size=int(rng.randint(1, 5)))
    assert _plain(got) == _plain(expected) and not assembler.open


def test_a_failed_segment_fails_its_file_once_and_keeps_the_others(files):
    good = _rows("b.wav", *files["b.wav"])
    bad = _rows("a.wav", *files["a.wav"])
    failed = dict(
        bad[0], window=-1, scores=b"", framewise=b"", error_reason="a.wav: cannot read", error_class="AudioError"
    )
    # Some of a.wav's windows arrive before its failed segment and some after: only the error counts.
    finished, assembler = _assemble(bad[:2] + good[:2] + [failed] + bad[2:] + good[2:] + [failed])
    by_path = {f["files"][0]["path"]: f for f in finished}
    assert len(finished) == 2 and not assembler.open
    assert by_path["a.wav"]["files"][0]["status"] == "error" and by_path["a.wav"]["files"][0]["duration"] is None
    assert by_path["a.wav"]["errors"] == [{"path": "a.wav", "reason": "a.wav: cannot read", "error": "AudioError"}]
    assert "windows" not in by_path["a.wav"] and "events" not in by_path["a.wav"]
    assert by_path["b.wav"]["files"][0]["status"] == "ok" and len(by_path["b.wav"]["windows"]) == 7


def test_tags_are_the_top_k_of_each_windows_scores(files):
    finished, _ = _assemble(_rows("b.wav", *files["b.wav"]))
    (done,) = finished
    grid, _ = files["b.wav"]
    for row in done["windows"]:
        scores = grid[int(row["start"] * RATE) // HOP :][: 1 + WINDOW // HOP].max(axis=0)
        order = np.argsort(-scores, kind="stable")[:2]
        assert row["top_labels"] == [LABELS[i] for i in order]
        np.testing.assert_array_equal(row["scores"], scores)
        assert row["end"] == min(row["start"] + 1.0, 4.0)


def test_event_points_detect_their_classes_at_their_own_high_and_low(files):
    from keras_panns.archive.spec import IndexSpec

    spec = IndexSpec(outputs=("events", "scores", "tags"), event_points=[("Dog", 0.95, 0.04)])
    manifest = {**MANIFEST, "events": spec.event_options}
    assembler = FileAssembler(manifest, LABELS)
    grid, seconds = files["a.wav"]
    finished = []
    for batch in _batches(_rows("a.wav", grid, seconds), 3):
        finished += assembler.add(batch)
    (done,) = finished
    # Dog's runs peak at 0.9, under its own high of 0.95: none; Speech and Music as before.
    detector = EventDetector(
        len(LABELS), frame_rate=RATE / HOP, labels=LABELS, high=[0.5, 0.95, 0.5], low=[0.2, 0.04, 0.2]
    )
    detector.update(grid)
    assert _events(done) == [(e.label, e.onset, e.offset, e.score) for e in detector.finish()]
    assert {e[0] for e in _events(done)} == {"Speech", "Music"}
    assert spec.fingerprint()["events"]["event_points"] == {"Dog": [0.95, 0.04]}
