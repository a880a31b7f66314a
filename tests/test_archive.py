"""The archive index on a real local Ray (127.0.0.1 only): equal to the offline functions, resumable, errors kept.

One Ray is started for the module (2 CPUs, loopback, no dashboard) and
stopped by its own handle at the end; `keras_panns.index_archive` runs its jobs on it.
The small MobileNetV1 (golden fixture weights, scores spread) runs the
tagging tests; Cnn14_DecisionLevelMax runs the events test on one file.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

pytest.importorskip("ray")
pytest.importorskip("pyarrow")

import keras_panns  # noqa: E402
from keras_panns.errors import ArchiveError  # noqa: E402
from keras_panns.testing import SHARED, golden, tool_module  # noqa: E402

EXAMPLES = SHARED / "data" / "examples"
ESC10 = SHARED / "data" / "esc10" / "audio"
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, logging_level="error"
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tagger():
    return golden.spread_scores(golden.fixture_model("MobileNetV1"))


def _recording(name):
    import keras_panns.audio

    path = EXAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    audio = keras_panns.audio.AudioFile(path)
    return audio.read(), audio.sample_rate


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Real recordings as wav, flac, mp3, ogg and m4a; mono and stereo; 32, 44.1 and 48 kHz; 3 s to 3 min.

    The m4a (AAC) file is made and read by ffmpeg (audioread's backend; `.ci/run` installs it); without
    ffmpeg on the machine it is left out and the other formats are still tested.
    """
    import shutil
    import subprocess

    import soundfile

    from keras_panns.audio import resample

    root = tmp_path_factory.mktemp("archive")
    speech, rate = _recording("R9_ZSCveAHg_7s.wav")
    other, _ = _recording("f62-S-v2swA_200000_210000.wav")
    long = np.concatenate([other, speech] * 11)  # about 3 minutes: several decoding segments
    at = {r: (resample(speech, rate, r), resample(other, rate, r)) for r in (44100, 48000)}
    files = {
        "a/speech.wav": (speech, rate, "PCM_16"),
        "a/other_44k_stereo.flac": (np.stack([at[44100][1], 0.5 * at[44100][1]], axis=1), 44100, "PCM_16"),
        "b/speech_48k.mp3": (at[48000][0], 48000, "MPEG_LAYER_III"),
        "b/short_3s.ogg": (other[: 3 * rate], rate, "VORBIS"),
        "b/long_3min.flac": (long, rate, "PCM_24"),
    }
    for name, (samples, sample_rate, subtype) in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / name, samples, sample_rate, subtype=subtype)
    if shutil.which("ffmpeg"):
        subprocess.run(
            [
                "ffmpeg",
                "-loglevel",
                "error",
                "-i",
                str(root / "a/speech.wav"),
                "-ar",
                "44100",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                str(root / "b/speech_44k.m4a"),
            ],
            check=True,
            timeout=120,
        )
    return root


def _count(folder):
    return sum(1 for path in folder.rglob("*") if path.is_file())


def _tables(out):
    import pandas as pd

    return {
        table: pd.read_parquet(os.path.join(out, table)) if os.path.isdir(os.path.join(out, table)) else None
        for table in ("files", "windows", "events", "errors")
    }


def test_index_equals_the_offline_functions_on_mixed_files(ray_local, tagger, mixed, tmp_path):
    out = tmp_path / "index"
    summary = keras_panns.index_archive(
        [str(mixed)],
        str(out),
        tagger,
        outputs=["tags", "scores", "embeddings"],
        runtime="keras",
        segment_windows=8,
        batch_size=4,
    )
    total = _count(mixed)
    assert summary.files == total and summary.indexed == total and summary.failed == 0 and summary.skipped == 0
    tables = _tables(out)
    files = tables["files"].set_index("path")
    assert set(files.status) == {"ok"} and tables["errors"] is None
    for path, row in files.iterrows():
        offline = keras_panns.tag_long(tagger, path)
        _, vectors = keras_panns.embed_long(tagger, path, hop_seconds=5.0)
        windows = tables["windows"][tables["windows"].path == path].sort_values("window")
        assert row.windows == len(windows) == len(offline.window_starts)
        np.testing.assert_allclose(windows.start, offline.window_starts, atol=1e-9)
        np.testing.assert_allclose(np.stack(windows.scores), offline.window_scores, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(
            np.stack(windows.embedding), vectors, atol=TOLERANCE, rtol=TOLERANCE
        )  # float32 summation order
        top = [label for label, _ in keras_panns.inference.top_k_labels(offline.window_scores[0], tagger.labels, 5)]
        assert list(windows.top_labels.iloc[0]) == top
    assert files.loc[str(mixed / "a/other_44k_stereo.flac")].channels == 2
    assert files.loc[str(mixed / "b/speech_48k.mp3")].sample_rate == 48000
    assert files.loc[str(mixed / "b/long_3min.flac")].windows > 2 * 8  # three segments of 8 windows
    if (mixed / "b/speech_44k.m4a").exists():
        assert files.loc[str(mixed / "b/speech_44k.m4a")].duration > 6
    manifest = keras_panns.archive.IndexStore(out).read_manifest()
    assert manifest["model"] == "MobileNetV1" and len(manifest["weights_sha256"]) == 64
    assert manifest["window_seconds"] == 10.0 and manifest["hop_seconds"] == 5.0


def test_rerun_skips_what_is_done_and_refuses_other_settings(ray_local, tagger, mixed, tmp_path):
    out = str(tmp_path / "index")
    first = keras_panns.index_archive([str(mixed / "a")], out, tagger, runtime="keras")
    assert first.indexed == 2
    total = _count(mixed)
    again = keras_panns.index_archive([str(mixed)], out, tagger, runtime="keras")  # two done, the others new
    assert again.skipped == 2 and again.indexed == total - 2 and again.windows > 0
    done = keras_panns.index_archive([str(mixed)], out, tagger, runtime="keras")
    assert done.skipped == total and done.indexed == 0 and done.windows == 0
    tables = _tables(out)
    assert sorted(tables["files"].path) == sorted(set(tables["files"].path))  # each file once
    assert len(tables["windows"]) == len(tables["windows"][["path", "window"]].drop_duplicates())
    with pytest.raises(ArchiveError, match=r"hop_seconds: 5.0 -> 2.0"):
        keras_panns.index_archive([str(mixed)], out, tagger, runtime="keras", hop_seconds=2.0)
    changed = golden.spread_scores(golden.fixture_model("MobileNetV1"), factor=0.03)
    with pytest.raises(ArchiveError, match="weights_sha256"):
        keras_panns.index_archive([str(mixed)], out, changed, runtime="keras")
    assert len(_tables(out)["files"]) == total  # the refused runs changed nothing


def test_a_finished_rerun_is_answered_without_loading_the_model(ray_local, tagger, mixed, tmp_path, monkeypatch):
    from keras_panns.archive import indexer

    preset = str(keras_panns.save_preset(tagger, tmp_path / "preset"))
    out = str(tmp_path / "index")
    first = keras_panns.index_archive([str(mixed / "a")], out, preset, runtime="keras")
    assert keras_panns.archive.IndexStore(out).read_manifest()["model_source"] == os.path.abspath(preset)

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded for a finished rerun")

    monkeypatch.setattr(indexer, "_load", no_model)
    done = keras_panns.index_archive([str(mixed / "a")], out, preset, runtime="keras")
    assert done.skipped == first.indexed and done.indexed == 0 and "nothing left to run" in done.runtime
    assert indexer.finished_rerun([str(mixed / "a")], out, preset, runtime="keras") is not None
    # Anything that could change the fingerprint or leave work sends the run the usual way (the model loaded).
    assert indexer.finished_rerun([str(mixed / "a")], out, preset, hop_seconds=2.0) is None
    assert indexer.finished_rerun([str(mixed / "a")], out, preset, outputs=["tags", "scores"]) is None
    assert indexer.finished_rerun([str(mixed / "a")], out, preset, runtime="onnxruntime") is None
    assert indexer.finished_rerun([str(mixed)], out, preset) is None  # files not indexed yet
    assert indexer.finished_rerun([str(mixed / "a")], str(tmp_path / "new"), preset) is None
    weights = next(p for p in (tmp_path / "preset").rglob("*") if p.is_file())
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 60))  # the checkpoint touched
    assert indexer.finished_rerun([str(mixed / "a")], out, preset) is None
    monkeypatch.undo()
    # Loaded, fingerprinted, skipped:
    again = keras_panns.index_archive([str(mixed / "a")], out, preset, runtime="keras")
    assert again.skipped == first.indexed and "nothing left to run" not in again.runtime


def test_a_file_changed_since_it_was_indexed_is_there_once_as_it_is_now(ray_local, tagger, mixed, tmp_path):
    import shutil

    folder = tmp_path / "a"
    shutil.copytree(mixed / "a", folder)
    out = str(tmp_path / "index")
    first = keras_panns.index_archive([str(folder)], out, tagger, runtime="keras")
    speech, other = folder / "speech.wav", folder / "other_44k_stereo.flac"
    before = _tables(out)["windows"].set_index("path")
    shutil.copyfile(mixed / "b" / "long_3min.flac", speech)  # rewritten with other audio: more windows now
    os.utime(other, (other.stat().st_atime, other.stat().st_mtime + 60))  # copied anew: same bytes, new mtime
    again = keras_panns.index_archive([str(folder)], out, tagger, runtime="keras")
    assert again.changed == 2 and again.indexed == 2 and again.skipped == first.indexed - 2
    tables = _tables(out)
    assert tables["files"].path.is_unique and len(tables["files"]) == first.indexed
    windows = tables["windows"]
    assert len(windows) == len(windows[["path", "window"]].drop_duplicates())
    assert (windows.path == str(speech)).sum() > (before.index == str(speech)).sum()  # the longer audio's windows
    assert (windows.path == str(other)).sum() == (before.index == str(other)).sum()
    assert keras_panns.index_archive([str(folder)], out, tagger, runtime="keras").changed == 0


def test_bad_files_land_in_errors_and_the_rest_is_indexed(ray_local, tagger, mixed, tmp_path):
    import soundfile

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.wav").write_bytes(b"")
    (bad / "garbage.flac").write_bytes(b"fLaC this is not audio at all" * 10)
    soundfile.write(bad / "nan.wav", np.full(32000, np.nan, np.float32), 32000, subtype="FLOAT")
    soundfile.write(bad / "too_short.wav", np.zeros(100, np.float32), 32000)
    truncated = (mixed / "a" / "speech.wav").read_bytes()
    (bad / "truncated.wav").write_bytes(truncated[: len(truncated) // 3])
    locked = bad / "locked.wav"
    locked.write_bytes(truncated)
    locked.chmod(0)
    good = mixed / "a" / "speech.wav"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{good}\n{bad / 'missing.wav'}\n" + "".join(f"{p}\n" for p in sorted(bad.iterdir())))
    summary = keras_panns.index_archive([str(listing)], str(tmp_path / "index"), tagger, runtime="keras")
    tables = _tables(tmp_path / "index")
    errors = tables["errors"].set_index("path")
    assert summary.indexed + summary.failed == summary.files == 8
    assert str(bad / "missing.wav") in errors.index and "no such file" in errors.loc[str(bad / "missing.wav")].reason
    assert "empty" in errors.loc[str(bad / "empty.wav")].reason
    assert "NaN" in errors.loc[str(bad / "nan.wav")].reason
    assert "needs at least" in errors.loc[str(bad / "too_short.wav")].reason
    assert str(bad / "garbage.flac") in errors.index
    if os.geteuid() != 0:  # root reads a file without permission
        assert str(locked) in errors.index
    assert set(errors.error) <= {"AudioError", "MissingAudioError"}  # the missing file is told apart by its type
    files = tables["files"].set_index("path")
    assert files.loc[str(good)].status == "ok" and set(files.loc[list(errors.index)].status) == {"error"}
    # The truncated WAV keeps its readable part, as `tag` reads it (libsndfile reports the frames present).
    assert str(bad / "truncated.wav") in files.index


def test_events_across_segment_borders_equal_detect_events_long(ray_local, tmp_path):
    import soundfile

    sed = golden.fixture_model("Cnn14_DecisionLevelMax")
    speech, rate = _recording("R9_ZSCveAHg_7s.wav")
    other, _ = _recording("f62-S-v2swA_200000_210000.wav")
    path = tmp_path / "forty_seconds.wav"
    soundfile.write(path, np.concatenate([speech, other, speech, other, speech])[: 38 * rate], rate)
    options = {"high": 0.3, "low": 0.1, "median_window": 5}
    summary = keras_panns.index_archive(
        [str(path)],
        str(tmp_path / "index"),
        sed,
        outputs=["events", "scores"],
        runtime="keras",
        segment_windows=2,
        batch_size=2,
        **options,
    )
    assert summary.indexed == 1
    offline = keras_panns.detect_events_long(sed, str(path), **options)
    events = _tables(tmp_path / "index")["events"].sort_values(["onset", "class_index"])
    want = sorted(offline.events, key=lambda e: (e.onset, e.index))
    assert len(events) == len(want) > 0
    np.testing.assert_allclose(events.onset, [e.onset for e in want], atol=1e-9)
    np.testing.assert_allclose(events.offset, [e.offset for e in want], atol=1e-9)
    assert list(events.class_index) == [e.index for e in want]
    np.testing.assert_allclose(events.score, [e.score for e in want], atol=TOLERANCE)


def test_events_from_a_cnn14_tagger_use_its_decision_level_forward(ray_local, tmp_path):
    import soundfile

    small = dict(sample_rate=8000, window_size=256, hop_size=80, mel_bins=32, fmax=4000)
    tagger = golden.spread_scores(keras_panns.Cnn14(**small, seed=0))
    speech, rate = _recording("R9_ZSCveAHg_7s.wav")
    path = tmp_path / "speech.wav"
    soundfile.write(path, keras_panns.audio.resample(speech, rate, 8000), 8000)
    options = {"high": 0.3, "low": 0.1}
    with pytest.warns(UserWarning, match="decision-level forward"):
        keras_panns.index_archive(
            [str(path)], str(tmp_path / "index"), tagger, outputs=["events"], runtime="keras", **options
        )
    offline = keras_panns.detect_events_long(
        keras_panns.Cnn14_DecisionLevelMax.from_tagger(tagger), str(path), **options
    )
    events = _tables(tmp_path / "index")["events"]
    assert len(events) == len(offline.events) > 0
    np.testing.assert_allclose(sorted(events.onset), sorted(e.onset for e in offline.events), atol=1e-9)


def test_mixtures_of_real_sounds_go_through_index_label_calibrate_and_evaluate(ray_local, tmp_path, capsys):
    """tools/make_mixtures.py's ESC-10 events at known onsets, end to end on real sound: the truth that reaches
    the event metrics through `label --import` is the generator's own, PSDS on it is what sed_scores_eval gives
    on the generator's truth, and every labelled class gets an event point or is named as keeping the defaults.
    Golden fixture weights are not the pretrained ones: the scores are poor, the path is what is checked.
    """
    import json

    import pandas

    from keras_panns import event_metrics
    from keras_panns.cli.main import main
    from keras_panns.decisions import OperatingPoints
    from keras_panns.search.labelled import calibrate_index
    from keras_panns.search.labelled_events import LOW_GRID, framewise_events, framewise_scores

    if not (ESC10.parent / "esc10.csv").exists():
        pytest.skip(f"ESC-10 not found in {ESC10.parent}")
    tool = tool_module("make_mixtures")
    count, seconds = 8, 6.0
    labels = tool.write_mixtures(
        str(tmp_path / "mix"), str(ESC10.parent), count, seconds, 3, (10.0, 25.0), -45.0, ("5",), seed=3
    )
    audio = sorted(str(path) for path in (tmp_path / "mix" / "audio").glob("*.wav"))
    index = str(tmp_path / "index")
    preset = keras_panns.save_preset(golden.fixture_model("Cnn14_DecisionLevelMax"), tmp_path / "sed")
    # evaluate --folder indexes the folder (kept in --index_out) and evaluates it on the label file.
    folder = ["keras-panns", "evaluate", "--folder", str(tmp_path / "mix" / "audio"), "--labels", labels]
    folder += ["--checkpoint", str(preset), "--events", "--index_out", index, "--format", "json"]
    assert main(folder) == 0
    before = json.loads(capsys.readouterr().out)
    assert keras_panns.Index(index).files.status.eq("ok").sum() == count
    assert main(["keras-panns", "label", index, "--import", labels]) == 0
    assert main(["keras-panns", "evaluate", "--index", index, "--events", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == before  # the imported labels are the file's
    points = tmp_path / "points.json"
    calibrate = ["keras-panns", "calibrate", index, "--target", "f1", "--min_labels", "2", "--out", str(points)]
    assert main(calibrate) == 0
    told = capsys.readouterr().err
    evaluate = ["keras-panns", "evaluate", "--index", index, "--events", "--operating_points", str(points)]
    assert main([*evaluate, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == count and report["hours"] == pytest.approx(count * seconds / 3600)

    truth = pandas.read_csv(tmp_path / "mix" / "events.tsv", sep="\t")
    classes = sorted(set(truth.label))
    assert sorted(record["name"] for record in report["classes"]) == classes
    durations = {path: seconds for path in audio}
    own_truth = event_metrics.ground_truth(
        truth.rename(columns={"onset": "start", "offset": "end"}), classes, durations
    )
    events = keras_panns.Index(index).events
    tables = event_metrics.score_tables(events, durations, classes)
    for scenario in (1, 2):
        assert report[f"psds{scenario}"] == pytest.approx(event_metrics.psds(tables, own_truth, durations, scenario))
    events_per_class = {name: sum(e[2] == name for spans in own_truth.values() for e in spans) for name in classes}
    assert {record["name"]: record["events"] for record in report["classes"]} == events_per_class
    # The index's model run again over the labelled files (calibrate --choose_low) finds the index's own events.
    reopened = keras_panns.Index(index)
    framewise = framewise_scores(reopened, audio)
    labels_all = reopened.labels
    again = framewise_events(framewise, labels_all, labels_all, 0.2)
    again = again.assign(class_index=again.label.map(labels_all.index)).sort_values(["path", "class_index", "onset"])
    events = events.sort_values(["path", "class_index", "onset"])
    assert len(again) == len(events) > 0
    np.testing.assert_allclose(again.onset, events.onset, atol=1e-9)
    np.testing.assert_allclose(again.offset, events.offset, atol=1e-9)
    np.testing.assert_allclose(again.score, events.score, atol=TOLERANCE)
    with_lows = calibrate_index(reopened, "f1", min_labels=2, framewise=lambda paths: {p: framewise[p] for p in paths})
    assert all(p["events"]["low"] in LOW_GRID for p in with_lows.classes.values() if p.get("events"))
    loaded = OperatingPoints.load(points, model=keras_panns.Index(index).manifest)
    for record in report["classes"]:
        point = loaded.classes.get(record["name"], {}).get("events")
        if point:  # evaluate reports the point calibrate chose, at its F1
            assert record["high"] == pytest.approx(point["high"]) and record["collar_f1"] == pytest.approx(point["f1"])
        elif events_per_class[record["name"]] >= 2 and record["name"] in loaded.classes:
            assert record["name"] in loaded.too_few_events and record["name"] in told  # the defaults, said
            assert record["high"] == pytest.approx(0.2)  # evaluate --folder's default --low, its high too


def _import_fails():
    import keras_panns_on_no_node  # noqa: F401  (a node without keras-panns installed)


def test_a_cluster_that_cannot_run_this_keras_panns_is_refused(ray_local, monkeypatch):
    from keras_panns.archive import ray_session

    ray_session.check_cluster(ray_local, "the test cluster")  # this cluster runs this very package
    with monkeypatch.context() as patch:
        patch.setattr(ray_session, "__version__", "0.0.0+driver")
        with pytest.raises(ArchiveError, match=r"has keras-panns .*, this driver 0.0.0\+driver"):
            ray_session.check_cluster(ray_local, "the test cluster")
    with monkeypatch.context() as patch:
        patch.setattr(ray_session, "_remote_version", _import_fails)
        with pytest.raises(
            ArchiveError, match=r"cannot run keras-panns .*install keras-panns\[archive\] on every node"
        ):
            ray_session.check_cluster(ray_local, "the test cluster")


def test_bad_arguments_name_what_is_wrong(ray_local, tagger, mixed, tmp_path):
    with pytest.raises(ArchiveError, match="matches no audio"):
        keras_panns.index_archive([str(tmp_path / "*.wav")], str(tmp_path / "i1"), tagger, runtime="keras")
    with pytest.raises(ArchiveError, match="no framewise output"):
        keras_panns.index_archive([str(mixed)], str(tmp_path / "i2"), tagger, outputs=["events"], runtime="keras")
    with pytest.raises(ArchiveError, match="choose from"):
        keras_panns.index_archive([str(mixed)], str(tmp_path / "i3"), tagger, outputs=["colours"], runtime="keras")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "mine.txt").write_text("keep")
    with pytest.raises(ArchiveError, match="not a keras-panns index"):
        keras_panns.index_archive([str(mixed)], str(occupied), tagger, runtime="keras")
    assert os.listdir(occupied) == ["mine.txt"]
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ArchiveError, match="cannot write the index"):
        keras_panns.index_archive([str(mixed)], str(blocker / "index"), tagger, runtime="keras")
