"""keras_panns.data on real AudioSet CSVs, ESC-10 clips and a synthetic AudioSet-style corpus."""

import csv
import json
import os

import numpy as np
import pytest
import soundfile

from keras_panns import labels
from keras_panns.cli.main import main
from keras_panns.data import BalancedSampler, DataError, audioset_examples, make_dataset, pack, read_segments
from keras_panns.data import packing as pack_module


def test_real_audioset_segment_lists_parse(shared_data):
    mids = set(labels.audioset_mids())
    for name, count in (("balanced_train_segments.csv", 22160), ("eval_segments.csv", None)):
        segments = read_segments(shared_data / "audioset" / name)
        if count:
            assert len(segments) == count  # the header's num_segs
        assert all(s.end - s.start <= 10.0 + 1e-9 and s.mids and set(s.mids) <= mids for s in segments)
    first = read_segments(shared_data / "audioset" / "balanced_train_segments.csv")[0]
    assert (first.ytid, first.start, first.mids) == ("--PJHxphWEs", 30.0, ("/m/09x0r", "/t/dd00088"))


@pytest.fixture
def audioset_corpus(tmp_path):
    """Six segments: three naming conventions, one missing, one corrupt, one silent file."""
    rng = np.random.RandomState(0)
    audio = tmp_path / "clips"
    audio.mkdir()
    rows = [
        ("aaaaaaaaaaa", 30, "/m/09x0r"),
        ("bbbbbbbbbbb", 0, "/m/04rlf,/m/09x0r"),
        ("ccccccccccc", 12.5, "/m/0jbk"),
        ("ddddddddddd", 0, "/m/09x0r"),
        ("eeeeeeeeeee", 0, "/m/04rlf"),
        ("fffffffffff", 5, "/m/0jbk"),
    ]
    waves = {}
    for ytid, start, _ in rows[:3]:
        waves[ytid] = (rng.uniform(-0.5, 0.5, 16000 * 3) * 0.8).astype(np.float32)
    soundfile.write(audio / "Yaaaaaaaaaaa.wav", waves["aaaaaaaaaaa"], 16000)
    soundfile.write(audio / "bbbbbbbbbbb_0_10000.flac", waves["bbbbbbbbbbb"], 16000)  # start in ms
    soundfile.write(audio / "ccccccccccc_12.500_22.500.wav", waves["ccccccccccc"], 16000, subtype="FLOAT")
    (audio / "Yeeeeeeeeeee.wav").write_bytes(b"RIFF....WAVEnot really")
    soundfile.write(audio / "Yfffffffffff.wav", np.zeros(16000, np.float32), 16000)
    segments = tmp_path / "segments.csv"
    with open(segments, "w") as f:
        f.write("# Segments csv\n# num_ytids=6\n# YTID, start_seconds, end_seconds, positive_labels\n")
        for ytid, start, mids in rows:
            f.write(f'{ytid}, {start:.3f}, {start + 10:.3f}, "{mids}"\n')
    return segments, audio, waves


def test_pack_audioset_corpus_skips_bad_files_and_round_trips(audioset_corpus, tmp_path):
    segments, audio, waves = audioset_corpus
    examples = audioset_examples(segments, audio, labels.audioset_mids())
    assert [e.path is not None for e in examples] == [True, True, True, False, True, True]
    out = str(tmp_path / "packed")
    manifest = pack(
        examples,
        out,
        label_names=labels.audioset_labels(),
        sample_rate=8000,
        clip_seconds=4.0,
        shard_size=2,
        workers=2,
        progress=False,
    )
    assert manifest["num_examples"] == 3 and manifest["num_skipped"] == 3 and len(manifest["shards"]) == 3
    assert manifest["clip_samples"] == 32000 and manifest["class_counts"][0] == 2  # Speech twice
    with open(os.path.join(out, "skipped.csv")) as f:
        reasons = {row["id"]: row["reason"].split(":")[0] for row in csv.DictReader(f)}
    assert reasons == {"ddddddddddd_0": "missing", "eeeeeeeeeee_0": "unreadable", "fffffffffff_5": "silent"}
    waveforms, targets = zip(*[(x.numpy(), y.numpy()) for x, y in make_dataset(out, mode="eval", batch_size=1)])
    assert len(waveforms) == 3
    from keras_panns.audio import resample

    for (ytid, wave), got, target in zip(waves.items(), waveforms, targets):
        expected = np.pad(resample(wave, 16000, 8000), (0, 8000))[:32000]  # 3 s zero-padded to 4 s
        np.testing.assert_allclose(got[0], expected, atol=2.5 / 32768)  # 16-bit source files, int16 shards
    assert np.flatnonzero(targets[1][0]).tolist() == sorted(
        labels.audioset_mids().index(m) for m in ("/m/04rlf", "/m/09x0r")
    )


@pytest.fixture(scope="module")
def esc10_packed(tmp_path_factory, esc10_examples):
    examples, names = esc10_examples
    out = str(tmp_path_factory.mktemp("esc10") / "packed")
    manifest = pack(
        examples, out, label_names=names, sample_rate=16000, clip_seconds=5.0, shard_size=50, workers=2, progress=False
    )
    return out, manifest


def test_pack_esc10_with_the_generic_csv(esc10_packed):
    out, manifest = esc10_packed
    assert manifest["num_examples"] == 400 and manifest["num_skipped"] == 0
    assert manifest["class_counts"] == [40] * 10 and manifest["labels"][4] == "dog"
    assert len(manifest["shards"]) == 8 and manifest["sample_rate"] == 16000


def test_balanced_sampler_covers_every_class_in_each_run():
    num_classes = 40
    # A skewed single-label corpus (1,000 examples of class 0 down to 1 of class 38) and an empty class 39.
    counts = [max(1, int(1000 * 0.83**c)) for c in range(num_classes - 1)]
    example_labels = [[c] for c, n in enumerate(counts) for _ in range(n)]
    sampler = BalancedSampler(example_labels, num_classes, seed=1)
    assert len(sampler.classes) == num_classes - 1 and max(counts) / min(counts) >= 1000
    runs = 50
    draws = np.array([example_labels[next(sampler)][0] for _ in range(runs * 39)]).reshape(runs, 39)
    for run in draws:  # every aligned run of C draws holds each class once
        assert sorted(run) == list(range(39))
    assert not all(np.array_equal(draws[0], run) for run in draws[1:])  # the class order is reshuffled
    again = BalancedSampler(example_labels, num_classes, seed=1)
    assert [example_labels[next(again)][0] for _ in range(39)] == draws[0].tolist()
    # Multi-label: every class still comes up at least once per run.
    rng = np.random.RandomState(0)
    multi = [sorted(set(rng.choice(39, 3, p=np.array(counts) / sum(counts)))) for _ in range(3000)]
    sampler = BalancedSampler(multi, num_classes, seed=2)
    present = len(sampler.classes)
    hits = np.zeros(num_classes)
    for _ in range(runs * present):
        hits[multi[next(sampler)]] += 1
    assert hits[sampler.classes].min() >= runs


def test_balanced_stream_class_frequencies(esc10_packed):
    out, manifest = esc10_packed
    n = 30
    dataset = make_dataset(out, mode="balanced", batch_size=10, seed=3)
    targets = np.concatenate([y.numpy() for _, y in dataset.take(n)])
    per_class = targets.sum(axis=0)
    print(f"balanced: {n * 10} draws, max/min class frequency = {per_class.max() / per_class.min():.3f}")
    assert per_class.max() / per_class.min() == 1.0
    assert all(sorted(np.argmax(targets[i : i + 10], axis=1)) == list(range(10)) for i in range(0, n * 10, 10))


def test_mixup_is_seeded_and_mixes_targets(esc10_packed):
    out, _ = esc10_packed
    first = [(x.numpy(), y.numpy()) for x, y in make_dataset(out, batch_size=4, mixup_alpha=1.0, seed=7).take(2)]
    again = [(x.numpy(), y.numpy()) for x, y in make_dataset(out, batch_size=4, mixup_alpha=1.0, seed=7).take(2)]
    other = next(iter(make_dataset(out, batch_size=4, mixup_alpha=1.0, seed=8)))[1].numpy()
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][1], other)
    x, y = first[0]
    assert x.shape == (4, 80000) and np.allclose(y.sum(axis=1), 1.0)  # single-label pairs: weights sum to 1
    assert np.any((y > 0) & (y < 1))
    features, target = next(iter(make_dataset(out, batch_size=4, mixup_alpha=1.0, mixup_mode="features", seed=7)))
    lam = features["mixup_lambda"].numpy()
    assert features["waveform"].shape == (8, 80000) and lam.shape == (8,)
    np.testing.assert_allclose(lam[0::2] + lam[1::2], 1.0, atol=1e-6)
    np.testing.assert_allclose(target.numpy(), y, atol=1e-6)  # same seed, same lambdas and pairs


def test_shuffle_and_eval_modes_and_worker_sharding(esc10_packed):
    import tensorflow as tf

    out, manifest = esc10_packed
    eval_targets = np.concatenate([y.numpy() for _, y in make_dataset(out, mode="eval", batch_size=64)])
    assert len(eval_targets) == 400  # every clip once, the last batch partial
    with open(os.path.join(out, manifest["shards"][0]["index"])) as f:
        first_labels = json.load(f)["labels"]
    assert np.argmax(eval_targets[:50], axis=1).tolist() == [l[0] for l in first_labels]
    shuffled = np.concatenate([y.numpy() for _, y in make_dataset(out, mode="shuffle", batch_size=50, repeat=False)])
    assert len(shuffled) == 400 and not np.array_equal(shuffled, eval_targets)
    np.testing.assert_array_equal(shuffled.sum(axis=0), eval_targets.sum(axis=0))
    seen = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        ds = make_dataset(out, mode="eval", batch_size=64, input_context=context)
        seen.append(sum(len(x) for x, _ in ds))
    assert seen == [200, 200]


def test_corrupt_shard_is_skipped_or_raises(esc10_packed, tmp_path):
    import shutil

    import tensorflow as tf

    out, manifest = esc10_packed
    copy = str(tmp_path / "copy")
    shutil.copytree(out, copy)
    shard = os.path.join(copy, manifest["shards"][1]["file"])
    data = bytearray(open(shard, "rb").read())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64  # damage one record in the middle
    open(shard, "wb").write(bytes(data))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        count = sum(len(x) for x, _ in make_dataset(copy, mode="eval", batch_size=50))
    assert count == 399  # only the damaged record is lost
    with pytest.raises(tf.errors.OpError, match="CorruptClip.*checksum mismatch"):
        for _ in make_dataset(copy, mode="eval", batch_size=50, strict=True):
            pass
    balanced = make_dataset(copy, mode="balanced", batch_size=10)
    assert sum(len(x) for x, _ in balanced.take(40)) == 400  # the bad record is replaced, the stream goes on
    truncated = os.path.join(copy, manifest["shards"][-1]["file"])
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) - 1000)
    with pytest.warns(UserWarning, match="truncated"):
        count = sum(len(x) for x, _ in make_dataset(copy, mode="eval", batch_size=64))
    assert count == 398


def test_interrupted_pack_resumes(audioset_corpus, tmp_path, monkeypatch):
    segments, audio, _ = audioset_corpus
    examples = audioset_examples(segments, audio, labels.audioset_mids())
    out = str(tmp_path / "packed")
    kwargs = dict(
        label_names=labels.audioset_labels(),
        sample_rate=8000,
        clip_seconds=2.0,
        shard_size=2,
        workers=1,
        progress=False,
    )
    real = pack_module.pack_shard
    calls = []

    def crash_on_second(job):
        calls.append(job["name"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job dies while writing shard 2
        return real(job)

    monkeypatch.setattr(pack_module, "pack_shard", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        pack(examples, out, **kwargs)
    assert not os.path.exists(os.path.join(out, "manifest.json"))
    done = os.path.join(out, "shard-00000-of-00003.tfrecord")
    stamp = os.path.getmtime(done)
    calls.clear()
    monkeypatch.setattr(pack_module, "pack_shard", lambda job: calls.append(job["name"]) or real(job))
    manifest = pack(examples, out, **kwargs)
    assert calls == ["shard-00001-of-00003", "shard-00002-of-00003"]  # shard 0 was kept
    assert os.path.getmtime(done) == stamp and manifest["num_examples"] == 3
    assert not [n for n in os.listdir(out) if n.endswith(".partial")]
    with pytest.raises(DataError, match="different settings"):
        pack(examples, out, **{**kwargs, "clip_seconds": 3.0})


def test_pack_command_line(shared_data, tmp_path, capsys):
    rows = sorted(os.listdir(shared_data / "esc10" / "audio"))[:6]
    listing = tmp_path / "list.csv"
    listing.write_text(
        "path,labels\n"
        + "".join(
            f"{shared_data / 'esc10' / 'audio' / name},{'a;b' if i % 2 else 'b'}\n" for i, name in enumerate(rows)
        )
    )
    out = str(tmp_path / "out")
    assert (
        main(
            [
                "keras-panns",
                "pack",
                "--csv",
                str(listing),
                "--out",
                out,
                "--clip_seconds",
                "1",
                "--workers",
                "1",
                "--noprogress",
            ]
        )
        == 0
    )
    assert "packed 6 clips into 1 shards" in capsys.readouterr().out
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["labels"] == ["a", "b"] and manifest["class_counts"] == [3, 6]
    assert main(["keras-panns", "pack", "--out", out]) == 2
    assert main(["keras-panns", "pack", "--csv", str(listing), "--label_column", "tags", "--out", out]) == 1
    assert "no column" in capsys.readouterr().err


def test_reader_reads_aligned_rows_and_refuses_old_indexes(esc10_packed, tmp_path):
    import shutil

    from keras_panns.data import load_manifest
    from keras_panns.data.reader import ClipIndex, aligned_pcm

    out, manifest = esc10_packed
    pcm = aligned_pcm(3, manifest["clip_samples"])
    assert pcm.ctypes.data % 64 == 0 and pcm.shape == (3, manifest["clip_samples"])
    index = ClipIndex(load_manifest(out))
    with index.open() as files:
        for row, i in enumerate((0, 399, 57)):
            files.read_into(i, pcm[row])
    eval_batch = next(iter(make_dataset(out, mode="eval", batch_size=400)))[0].numpy()
    np.testing.assert_array_equal(pcm / 32768.0, eval_batch[[0, 399, 57]])
    with open(os.path.join(out, manifest["shards"][1]["index"])) as f:
        shard_labels = json.load(f)["labels"]  # clip 57 is the 8th of the second 50-clip shard
    assert np.flatnonzero(index.targets([57])[0]).tolist() == shard_labels[7]
    old = str(tmp_path / "old")
    shutil.copytree(out, old)
    with open(os.path.join(old, "manifest.json")) as f:
        legacy = json.load(f)
    legacy["format"] = "keras_panns.tfrecord.int16.v1"
    with open(os.path.join(old, "manifest.json"), "w") as f:
        json.dump(legacy, f)
    with pytest.raises(DataError, match="pack it again"):
        make_dataset(old)


def test_pack_and_read_through_a_gfile_url(esc10_examples, esc10_packed):
    """`ram://` is TensorFlow's in-process file system: the same code path as gs:// or s3://."""
    examples, names = esc10_examples
    url = "ram://keras_panns_test/packed"
    manifest = pack(
        examples[:12],
        url,
        label_names=names,
        sample_rate=16000,
        clip_seconds=5.0,
        shard_size=5,
        workers=1,
        progress=False,
    )
    assert manifest["num_examples"] == 12 and len(manifest["shards"]) == 3
    remote = np.concatenate([x.numpy() for x, _ in make_dataset(url, mode="eval", batch_size=8)])
    local_dir, _ = esc10_packed
    local = next(iter(make_dataset(local_dir, mode="eval", batch_size=12)))[0].numpy()
    np.testing.assert_array_equal(remote, local)  # the first 12 clips, byte for byte
    balanced = next(iter(make_dataset(url, mode="balanced", batch_size=4, mixup_alpha=1.0)))
    assert balanced[0].shape == (4, 80000)


def test_balanced_sampler_from_flat_labels_draws_the_same_sequence():
    rng = np.random.RandomState(3)
    labels = [sorted(set(rng.randint(0, 12, rng.randint(1, 4)))) for _ in range(500)]
    splits = np.cumsum([0] + [len(l) for l in labels])
    values = [c for l in labels for c in l]
    listed = BalancedSampler(labels, 13, seed=5)
    flat = BalancedSampler.from_flat_labels(values, splits, 13, seed=5)
    assert [next(listed) for _ in range(3000)] == [next(flat) for _ in range(3000)]
