"""Live streams equal the offline functions on real recordings, whatever the chunking."""

import numpy as np
import pytest
import soundfile

import keras_panns
from keras_panns.errors import AudioError
from keras_panns.labels import descendants, group_union
from keras_panns.testing import golden

DETECTION = dict(window_seconds=4.0, hop_seconds=1.5, high=0.3, low=0.2, median_window=5)


@pytest.fixture(scope="module")
def sed():
    model = golden.fixture_model("Cnn14_DecisionLevelMax")
    return model


@pytest.fixture(scope="module")
def recording(shared_data):
    """17 s of int16 PCM at 32 kHz: a 10-s AudioSet clip and 7 s of speech."""
    clips = [
        soundfile.read(shared_data / "examples" / name, dtype="int16")[0]
        for name in ("f62-S-v2swA_200000_210000.wav", "R9_ZSCveAHg_7s.wav")
    ]
    return np.concatenate(clips)


def _push_in_random_chunks(stream, pcm, seed=0):
    rng, results, i = np.random.RandomState(seed), [], 0
    while i < len(pcm):
        n = int(rng.randint(1, 24000))
        results += stream.push(pcm[i : i + n])
        i += n
    return results + stream.close()


def _rows(events):
    return [(e.label, e.index, round(e.onset, 4), round(e.offset, 4)) for e in events]


@pytest.mark.slow
def test_live_events_equal_offline_events(sed, recording):
    offline = keras_panns.detect_events_long(sed, recording / 32768.0, batch_size=1, **DETECTION).events
    results = _push_in_random_chunks(keras_panns.Stream(sed, top_k=0, **DETECTION), recording)
    ends = sorted((r for r in results if r.kind == "event_end"), key=lambda r: (r.onset, r.label))
    assert len(offline) > 10 and _rows(ends) == _rows(offline)
    np.testing.assert_allclose([r.score for r in ends], [e.score for e in offline], atol=1e-5)
    starts = [r for r in results if r.kind == "event_start"]
    # Each event is reported once when it starts and once when it ends, the start first.
    assert sorted((r.index, r.onset) for r in starts) == sorted((r.index, r.onset) for r in ends)
    order = {("start", r.index, r.onset): n for n, r in enumerate(results) if r.kind == "event_start"}
    assert all(order[("start", r.index, r.onset)] < n for n, r in enumerate(results) if r.kind == "event_end")
    assert all(r.offset is None and r.reported_at >= r.onset for r in starts)
    # An onset is reported once its frames are final: typically one window plus a hop later (a run that
    # reaches --high only later is reported when it does; at the end, close() reports sooner).
    delays = np.array([r.reported_at - r.onset for r in starts])
    assert np.median(delays) <= DETECTION["window_seconds"] + 2 * DETECTION["hop_seconds"]


@pytest.mark.slow
def test_live_window_tags_equal_tag_long(shared_data):
    model = golden.fixture_model("Cnn6")
    pcm = soundfile.read(shared_data / "examples" / "R9_ZSCveAHg_7s.wav", dtype="int16")[0]
    offline = keras_panns.tag_long(model, pcm / 32768.0, window_seconds=3, hop_seconds=1, batch_size=1)
    results = _push_in_random_chunks(keras_panns.Stream(model, window_seconds=3, hop_seconds=1, top_k=2), pcm)
    assert {r.kind for r in results} == {"tags"}  # a tagger has no frame scores: no events
    onsets = sorted({r.onset for r in results})
    np.testing.assert_allclose(onsets, offline.window_starts)
    for start, scores in zip(offline.window_starts, offline.window_scores):
        window = [r for r in results if r.onset == pytest.approx(start)]
        assert [r.index for r in window] == list(np.argsort(-scores, kind="stable")[:2])
        np.testing.assert_allclose([r.score for r in window], np.sort(scores)[::-1][:2], atol=1e-5)


def test_a_stream_shorter_than_a_window_is_scored_once_at_the_end(sed, recording):
    stream = keras_panns.Stream(sed, window_seconds=10, hop_seconds=1, top_k=1, high=0.3, low=0.2)
    assert stream.push(recording[:32000]) == [] and stream.push(recording[32000:64000]) == []
    results = stream.close()
    offline = keras_panns.detect_events_long(sed, recording[:64000] / 32768.0, window_seconds=10, high=0.3, low=0.2)
    assert [r.onset for r in results if r.kind == "tags"] == [0.0]
    ends = sorted((r for r in results if r.kind == "event_end"), key=lambda r: (r.onset, r.label))
    assert _rows(ends) == _rows(offline.events) and offline.events
    assert stream.close() == []


def test_channels_rates_and_groups(sed, recording):
    music = set(group_union(["Music"]))
    stream = keras_panns.Stream(sed, top_k=3, classes=music, **DETECTION)
    stereo16k = np.stack([recording[::2], recording[::2]], axis=1)  # 16 kHz, two channels
    results = []
    for i in range(0, len(stereo16k), 4000):
        results += stream.push(stereo16k[i : i + 4000], sample_rate=16000)
    results += stream.close()
    assert stream.seconds == pytest.approx(len(recording) / 32000, abs=0.01)
    assert results and all(r.index in music and r.label in set(descendants("Music")) for r in results)
    with pytest.raises(AudioError, match="closed"):
        stream.push(stereo16k[:10], sample_rate=16000)
    other = keras_panns.Stream(sed, **DETECTION)
    other.push(stereo16k[:10], sample_rate=16000)
    with pytest.raises(AudioError, match="rate is 16000 Hz"):
        other.push(stereo16k[:10], sample_rate=44100)


def test_nan_is_refused_and_the_open_events_survive(sed, recording):
    stream = keras_panns.Stream(sed, top_k=0, **DETECTION)
    before = stream.push(recording[:200000])
    bad = (recording[200000:201000] / 32768.0).astype(np.float32)
    bad[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        stream.push(bad)
    after = stream.close()
    started = {(r.index, r.onset) for r in before if r.kind == "event_start"}
    ended = {(r.index, r.onset) for r in before + after if r.kind == "event_end"}
    assert started and started <= ended  # every event that was reported open is closed


def test_default_timing_per_model(sed):
    from keras_panns.streaming import default_timing

    assert default_timing(sed) == (5.0, 1.0)
    small = keras_panns.MobileNetV1()
    assert default_timing(small) == (5.0, 0.5)
    stream = keras_panns.Stream(small)
    assert (stream.window_seconds, stream.hop_seconds) == (5.0, 0.5)
