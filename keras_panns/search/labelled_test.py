"""Labels into an index, operating points out of it: import checks, the window join, calibrate, apply.

The index is written through `IndexStore` with scores drawn per class: for Dog,
windows holding a bark score higher than the others (with overlap, so no
threshold is perfect), for Music scores squashed towards 0.5 (so calibration has
something to correct).
"""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, precision_score

from keras_panns.archive.annotations import Annotations, resolve_paths
from keras_panns.archive.label_files import read_label_file, write_label_csv
from keras_panns.archive.reader import IndexReader
from keras_panns.archive.store import IndexStore
from keras_panns.calibration import choose_point, parse_target, threshold_for
from keras_panns.decisions import OperatingPoints, OperatingPointsError
from keras_panns.errors import ArchiveError
from keras_panns.search.index import Index
from keras_panns.search.labelled import calibrate_index, labelled_examples
from keras_panns.testing import REPO

INDEX_V1 = REPO / "tests" / "data" / "index_v1"
FILES, WINDOWS = 40, 10  # 1-s windows, hop 1 s


def _truth(file, window):
    return (file + window) % 3 == 0  # a bark in a third of the windows


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    return _write_index(tmp_path_factory.mktemp("labelled") / "index")


def _write_index(root):
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest["outputs"] = ["scores", "tags"]
    manifest["hop_seconds"] = 1.0
    store = IndexStore(root)
    store.open(manifest)
    rng = np.random.default_rng(0)
    for file in range(FILES):
        path = f"/archive/rec{file:02d}.wav"
        windows = []
        for window in range(WINDOWS):
            dog = rng.beta(5, 2) if _truth(file, window) else rng.beta(2, 5)
            music = 0.5 + 0.05 * (1 if (file % 2) else -1) + rng.normal(0, 0.01)  # music in odd files
            scores = [float(rng.uniform(0, 0.2)), float(dog), float(music)]
            windows.append(
                dict(
                    path=path,
                    window=window,
                    start=float(window),
                    end=window + 1.0,
                    top_labels=["Dog", "Music"],
                    top_scores=[dog, music],
                    scores=scores,
                )
            )
        row = dict(
            path=path, size=1, mtime=1.0, duration=10.0, sample_rate=32000, channels=1, windows=WINDOWS, status="ok"
        )
        store.commit({"files": [row], "windows": windows})
    return root


def _labels_csv(path, rows):
    path.write_text("path,start,end,label,label_type\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _dog_and_music_labels(tmp_path):
    rows = []
    for file in range(FILES):
        for window in range(0, WINDOWS, 2):
            kind = "positive" if _truth(file, window) else "negative"
            # File names only, as people write them: matched to the indexed paths.
            rows.append((f"rec{file:02d}.wav", float(window) + 0.25, window + 0.75, "Dog", kind))
        rows.append((f"rec{file:02d}.wav", "", "", "Music", "positive" if file % 2 else "negative"))
    rows.append(("rec00.wav", 1.0, 2.0, "Speech", "positive"))  # too few Speech labels for a point
    return _labels_csv(tmp_path / "labels.csv", rows)


@pytest.fixture(scope="module")
def labelled(index_path, tmp_path_factory):
    labels = _dog_and_music_labels(tmp_path_factory.mktemp("labels"))
    index = Index(index_path)
    annotations = Annotations(index.path, index.labels, files=index.files.path)
    report = annotations.add(read_label_file(labels), provenance="labels.csv sha256:test")
    return index, annotations, report


def test_an_import_is_one_checked_part_resolved_by_file_name(labelled):
    index, annotations, report = labelled
    assert report.rows == FILES * (WINDOWS // 2) + FILES + 1 and report.missing_files == []
    assert report.resolved == FILES and report.by_type["positive"] > 0
    table = annotations.read()
    assert set(table.path) == set(index.files.path) and table.start.isna().sum() == FILES
    assert IndexReader(index.path).parts("annotations") == [report.part]
    with pytest.raises(ArchiveError, match="already imported"):
        annotations.add(table.drop(columns="provenance"), provenance="labels.csv sha256:test")


def test_bad_labels_are_refused_whole_and_named(labelled, tmp_path):
    index, annotations, _ = labelled
    before = len(annotations.read())
    typo = read_label_file(_labels_csv(tmp_path / "typo.csv", [("rec01.wav", 0, 1, "Dgo", "positive")]))
    with pytest.raises(ArchiveError, match=r"'Dgo', rows 2 \(did you mean 'Dog'\?\)"):
        annotations.add(typo, provenance="typo")
    # A negative where the index already holds a positive for the same span and class.
    clash = read_label_file(_labels_csv(tmp_path / "clash.csv", [("rec00.wav", 0.25, 0.75, "Dog", "negative")]))
    with pytest.raises(ArchiveError, match=r"rec00.wav 0.25-0.75 s 'Dog': positive and negative \(the index, row 2\)"):
        annotations.add(clash, provenance="clash")
    inside = read_label_file(
        _labels_csv(tmp_path / "both.csv", [("x.wav", "", "", "Dog", "positive"), ("x.wav", "", "", "Dog", "negative")])
    )
    with pytest.raises(ArchiveError, match="x.wav the whole file 'Dog': positive and negative \\(row 2, row 3\\)"):
        annotations.add(inside, provenance="both")
    assert len(annotations.read()) == before  # nothing of a refused import is written
    elsewhere = read_label_file(_labels_csv(tmp_path / "new.csv", [("not_indexed.wav", 0, 1, "Dog", "uncertain")]))
    report = annotations.add(elsewhere, provenance="new")
    assert (
        report.missing_files == ["not_indexed.wav"] and "not in the index (kept): not_indexed.wav" in report.summary()
    )


def test_the_window_join_follows_the_documented_rule(labelled):
    index, _, _ = labelled
    examples = labelled_examples(index)
    assert list(examples) == ["Speech", "Dog", "Music"]
    scores, truth = examples["Dog"]
    # Each 0.5-s span lies inside one 1-s window: one example per span, its truth the span's.
    assert len(scores) == FILES * (WINDOWS // 2)
    assert truth.sum() == sum(_truth(f, w) for f in range(FILES) for w in range(0, WINDOWS, 2))
    music, music_truth = examples["Music"]  # whole-file labels: the file's best window
    best = index.windows.assign(s=index.scores()[:, 2]).groupby("path").s.max()
    np.testing.assert_allclose(np.sort(music), np.sort(best.to_numpy()), rtol=1e-6)
    assert music_truth.sum() == FILES // 2


def test_thresholds_reach_their_target_as_scikit_learn_measures_it():
    rng = np.random.default_rng(1)
    truth = rng.random(400) < 0.3
    scores = np.where(truth, rng.beta(5, 2, 400), rng.beta(2, 5, 400))
    threshold, reached = threshold_for(scores, truth, parse_target("f1"))
    candidates = np.unique(scores)
    best = max(f1_score(truth, scores >= t) for t in candidates)
    assert reached and f1_score(truth, scores >= threshold) == pytest.approx(best)
    threshold, reached = threshold_for(scores, truth, parse_target("precision=0.9"))
    assert reached and precision_score(truth, scores >= threshold) >= 0.9
    lower = candidates[candidates < threshold]
    assert precision_score(truth, scores >= lower[-1]) < 0.9  # the most recall at that precision
    threshold, _ = threshold_for(scores, truth, parse_target("recall=0.8"))
    assert np.mean(scores[truth] >= threshold) >= 0.8 and np.mean(scores[truth] >= np.nextafter(threshold, 1)) < 0.8
    with pytest.raises(ValueError, match="precision=P"):
        parse_target("precision=1.5")


def test_calibrate_chooses_points_proves_them_on_held_out_folds_and_round_trips(labelled, tmp_path):
    index, _, _ = labelled
    points = calibrate_index(index, "precision=0.8")
    assert set(points.classes) == {"Dog", "Music"} and points.too_few_labels == ["Speech"]
    dog = points.classes["Dog"]
    held = dog["held_out"]
    assert held["tp"] + held["fn"] == dog["support"]["positives"]
    assert held["precision_ci"][0] <= held["precision"] <= held["precision_ci"][1]
    # Calibration turns Music's squashed scores (all near 0.5) into probabilities that fit the labels.
    music, truth = labelled_examples(index)["Music"]
    calibrated = points.calibrate(music[:, None].repeat(3, axis=1), index.labels)[:, 2]
    assert log_loss(truth, calibrated) < 0.5 * log_loss(truth, music)
    path = tmp_path / "points.json"
    points.save(path)
    again = OperatingPoints.load(path, model=index.manifest)
    assert again.thresholds(index.labels)[1] == pytest.approx(dog["threshold"])
    assert again.thresholds(index.labels)[0] == 0.5  # Speech keeps the default


def test_points_for_another_model_or_a_corrupt_file_are_refused(labelled, tmp_path):
    index, _, _ = labelled
    path = tmp_path / "points.json"
    calibrate_index(index, "f1").save(path)
    other = dict(index.manifest, weights_sha256="f" * 64)
    with pytest.raises(OperatingPointsError, match=r"weights_sha256 000000000000\.\.\. there, ffffffffffff\.\.\. here"):
        OperatingPoints.load(path, model=other)
    int8 = dict(index.manifest, runtime={"runtime": "openvino", "precision": "int8"})
    with pytest.raises(OperatingPointsError, match="precision 'float32' there, 'int8' here"):
        OperatingPoints.load(path, model=int8)
    path.write_text(path.read_text()[:50])
    with pytest.raises(OperatingPointsError, match="unreadable operating points"):
        OperatingPoints.load(path)


def test_too_few_labels_to_cross_validate_is_said():
    with pytest.raises(ValueError, match="1 positives and 3 negatives"):
        choose_point(np.array([0.9, 0.1, 0.2, 0.3]), np.array([1, 0, 0, 0], bool), ("f1", None))


def test_an_index_without_scores_names_the_flag(tmp_path):
    root = tmp_path / "tags_only"
    manifest = json.loads((INDEX_V1 / "manifest.json").read_text())
    manifest["outputs"] = ["tags"]
    store = IndexStore(root)
    store.open(manifest)
    with pytest.raises(ArchiveError, match="--outputs scores"):
        labelled_examples(Index(root))


def test_label_files_of_every_format_read_into_one_layout(tmp_path):
    raven = tmp_path / "selections.txt"
    raven.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tBegin Path\tAnnotation\n"
        "1\tSpectrogram 1\t1\t1.5\t2.5\t/archive/rec01.wav\tDog\n"
    )
    strong = tmp_path / "strong.tsv"
    strong.write_text("segment_id\tstart_time_seconds\tend_time_seconds\tlabel\nabc_30000\t0.5\t1.25\t/m/0bt9lr\n")
    segments = tmp_path / "segments.csv"
    segments.write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=1, num_segs=1, num_unique_labels=2, num_positive_labels=2\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        'abc, 30.000, 40.000, "/m/0bt9lr,/m/04rlf"\n'
    )
    assert read_label_file(raven).iloc[0].tolist() == ["/archive/rec01.wav", 1.5, 2.5, "Dog", "positive"]
    assert read_label_file(strong).iloc[0].tolist() == ["abc_30000", 0.5, 1.25, "Dog", "positive"]
    clip = read_label_file(segments)
    assert clip.label.tolist() == ["Dog", "Music"] and clip.start.isna().all() and set(clip.path) == {"abc_30000"}
    assert resolve_paths(["abc_30000"], ["/data/Yabc_30000.wav", "/data/other.wav"]) == {
        "abc_30000": "/data/Yabc_30000.wav"
    }
    written = tmp_path / "out.csv"
    write_label_csv(read_label_file(raven), written)
    assert read_label_file(written).equals(read_label_file(raven))
    bad = tmp_path / "bad.csv"
    bad.write_text("path,start,end,label\na.wav,2,1,Dog\n")
    with pytest.raises(ArchiveError, match="end is not after their start: 2"):
        read_label_file(bad)
    (tmp_path / "unknown.txt").write_text("hello,world\n")
    with pytest.raises(ArchiveError, match="unknown label file"):
        read_label_file(tmp_path / "unknown.txt")


def test_labels_go_to_perch_hoplite_and_back(tmp_path):
    from perch_hoplite.agile.metadata import AgileMetadata
    from perch_hoplite.db.datatypes import LabelType

    labels = read_label_file(_labels_csv(tmp_path / "labels.csv", [
        ("/archive/rec01.wav", 1.5, 2.5, "Dog", "positive"),
        ("/archive/rec01.wav", 4.0, 5.0, "Dog", "negative"),
        ("/archive/rec02.wav", "", "", "Music", "uncertain"),  # the whole file
    ]))  # fmt: skip
    exported = tmp_path / "hoplite_annotations.csv"
    with pytest.raises(ArchiveError, match="duration of /archive/rec02.wav is unknown"):
        write_label_csv(labels, exported, "hoplite")
    write_label_csv(labels, exported, "hoplite", durations={"/archive/rec02.wav": 10.0})
    # perch-hoplite's own reader takes it as it takes its migrations' files.
    read = AgileMetadata.from_csv_files(tmp_path / "none", tmp_path / "none", tmp_path / "none", exported)
    got = {
        (recording, a.label, tuple(a.offsets), a.label_type)
        for recording, annotations in read.annotations.items()
        for a in annotations
    }
    assert got == {
        ("/archive/rec01.wav", "Dog", (1.5, 2.5), LabelType.POSITIVE),
        ("/archive/rec01.wav", "Dog", (4.0, 5.0), LabelType.NEGATIVE),
        ("/archive/rec02.wav", "Music", (0.0, 10.0), LabelType.UNCERTAIN),
    }
    back = read_label_file(exported)  # told apart by its header
    assert back.loc[:1].equals(labels.loc[:1])
    assert back.iloc[2].tolist() == ["/archive/rec02.wav", 0.0, 10.0, "Music", "uncertain"]


def test_the_label_and_calibrate_commands(tmp_path, capsys):
    from keras_panns.cli.main import main

    index = _write_index(tmp_path / "index")  # an index of its own: no labels yet
    labels = _dog_and_music_labels(tmp_path)
    assert main(["keras-panns", "label", str(index), "--import", str(labels)]) == 0
    assert f"added {FILES * (WINDOWS // 2) + FILES + 1:,} labels" in capsys.readouterr().err
    assert main(["keras-panns", "label", str(index), "--import", str(labels)]) == 1  # the same file again
    assert "already imported" in capsys.readouterr().err
    points = tmp_path / "points.json"
    plot = tmp_path / "points.png"
    argv = ["keras-panns", "calibrate", str(index), "--target", "recall=0.8", "--out", str(points), "--plot", str(plot)]
    code = main(argv)
    captured = capsys.readouterr()
    assert "precision-recall of 2 classes" in captured.err and plot.read_bytes()[:4] == b"\x89PNG"
    assert code == 0 and "Dog" in captured.out and "Music" in captured.out
    assert "1 classes have fewer than 5 positive or negative labels and keep the threshold 0.5: Speech" in captured.err
    chosen = OperatingPoints.load(points, model=Index(index).manifest)
    assert chosen.classes["Dog"]["held_out"]["recall"] >= 0.6
    exported = tmp_path / "labels_out.csv"
    assert main(["keras-panns", "label", str(index), "--export", str(exported)]) == 0
    again = read_label_file(exported)
    assert len(again) == FILES * (WINDOWS // 2) + FILES + 1 and set(again.path) == set(Index(index).files.path)
    assert main(["keras-panns", "calibrate", str(index), "--target", "precision=2", "--out", str(points)]) == 2
    assert "target must be precision=P" in capsys.readouterr().err


def test_evaluate_reports_scikit_learns_metrics_at_the_operating_points(labelled, tmp_path, capsys):
    from sklearn.metrics import average_precision_score, recall_score, roc_auc_score

    from keras_panns.cli.main import main
    from keras_panns.search.labelled import evaluate_index

    index, _, _ = labelled
    points = calibrate_index(index, "f1")
    records = {r["name"]: r for r in evaluate_index(index, points=points)}
    scores, truth = labelled_examples(index)["Dog"]
    dog = records["Dog"]
    assert dog["ap"] == pytest.approx(average_precision_score(truth, scores))
    assert dog["roc_auc"] == pytest.approx(roc_auc_score(truth, scores))
    assert dog["threshold"] == pytest.approx(points.classes["Dog"]["threshold"])
    assert dog["recall"] == pytest.approx(recall_score(truth, scores >= dog["threshold"]))
    for kind in ("precision", "recall", "f1"):
        low, high = dog[f"{kind}_ci"]
        assert low <= dog[kind] <= high and high - low < 0.3
    assert records["Speech"]["roc_auc"] is None  # one positive, no negative: no ROC
    # A label file kept aside, not imported: evaluated as given, paths matched by file name.
    held_out = _labels_csv(
        tmp_path / "test.csv", [("rec03.wav", 0.0, 1.0, "Dog", "positive"), ("rec03.wav", 1.0, 2.0, "Dog", "negative")]
    )
    path = tmp_path / "points.json"
    points.save(path)
    argv = [
        "keras-panns",
        "evaluate",
        "--index",
        index.path,
        "--labels",
        str(held_out),
        "--operating_points",
        str(path),
    ]
    assert main(argv + ["--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert (record["name"], record["positives"], record["negatives"]) == ("Dog", 1, 1)
    assert main(argv) == 0 and "mAP over 1 labelled classes" in capsys.readouterr().out
    assert main(argv + ["--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("name,positives,negatives,ap,roc_auc,threshold,precision,recall,f1")


def test_search_keeps_each_class_over_its_own_threshold(labelled, tmp_path, capsys):
    from keras_panns.cli.main import main

    index, _, _ = labelled
    points = calibrate_index(index, "precision=0.8")
    threshold = points.classes["Dog"]["threshold"]
    found = index.search(label="Dog", operating_points=points, top=10_000)
    dog = index.scores()[:, 1]
    assert len(found) == int(np.sum(dog >= threshold)) and found.score.min() >= threshold
    plain = index.search(label="Dog", min_score=threshold, top=10_000)
    assert plain.equals(found)  # one class: the same as its threshold given as --min_score
    # A group: a window counts when any class is over its own bar (Speech keeps the default 0.5).
    animal = index.search(group="Animal", operating_points=points, top=10_000)
    assert len(animal) == int(np.sum(dog >= threshold)) and set(animal.label) == {"Dog"}
    path = tmp_path / "points.json"
    points.save(path)
    code = main(
        [
            "keras-panns",
            "search",
            index.path,
            "--label",
            "Dog",
            "--operating_points",
            str(path),
            "--top",
            "10000",
            "--format",
            "json",
        ]
    )
    assert code == 0 and len(json.loads(capsys.readouterr().out)) == len(found)


def test_the_report_counts_each_class_at_its_operating_point_and_the_labels(labelled, tmp_path):
    from keras_panns.search.report import build_report

    index, _, _ = labelled
    points = calibrate_index(index, "f1")
    page = build_report(index, points)
    over = int(np.sum(index.scores()[:, 1] >= points.classes["Dog"]["threshold"]))
    assert (
        "At the operating points" in page
        and f"<td>Dog</td><td>{round(points.classes['Dog']['threshold'], 3)}</td><td>{over}</td>" in page
    )
    assert "<h2>Labels</h2>" in page and "<td>Dog</td><td>" in page
    other = OperatingPoints(**{**points.__dict__, "model": dict(points.model, weights_sha256="e" * 64)})
    with pytest.raises(ArchiveError, match="weights_sha256"):
        build_report(index, other)


def test_label_exports_perch_hoplites_csv(labelled, tmp_path, capsys):
    from keras_panns.cli.main import main

    index, annotations, _ = labelled
    labelled = str(index.path)
    out = tmp_path / "hoplite_annotations.csv"
    assert main(["keras-panns", "label", str(labelled), "--export", str(out), "--format", "hoplite"]) == 0
    assert out.read_text().splitlines()[0] == "recording,label,start_offset_s,end_offset_s,label_type"
    exported = read_label_file(out)
    assert len(exported) == len(annotations.read())
    assert exported.start.notna().all()  # whole-file labels as 0 to the file's duration
    assert main(["keras-panns", "label", str(labelled), "--export", str(out), "--format", "raven"]) == 2
    assert "--export writes csv or hoplite, not raven" in capsys.readouterr().err
