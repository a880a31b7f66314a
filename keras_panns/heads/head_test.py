"""A head trained on an index and written as a folder: its card, its checks, the classify train command."""

import json

import numpy as np
import pytest

from keras_panns.errors import ArchiveError
from keras_panns.heads.data_test import FILES, WINDOWS, _labels, _write
from keras_panns.heads.head import HeadCard, check_class_names, load_head, train_index_head


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return _write(tmp_path_factory.mktemp("heads") / "index", numbered=False)


def test_a_head_is_trained_measured_and_written_with_its_card(index, tmp_path):
    labels = _labels()
    card = train_index_head(index, labels, tmp_path / "cuckoo.head", ["cuckoo"], epochs=20, folds=3)
    cuckoo = card.classes["cuckoo"]
    assert cuckoo["positives"] == 18 and cuckoo["negatives"] == 6 * 4 + 6 * WINDOWS
    assert cuckoo["ap"] > 0.8 and cuckoo["roc_auc"] > 0.8
    assert 0 < cuckoo["point"]["threshold"] < 1 and cuckoo["point"]["held_out"]["recall"] > 0.5
    assert card.base["weights_sha256"] == index.manifest["weights_sha256"]
    assert card.windows == {"window_seconds": 1.0, "hop_seconds": 1.0, "embedding_size": 4}
    assert card.training["weak_negatives"] == FILES * WINDOWS - (18 + 6 * 4 + 6 * WINDOWS)
    head, again = load_head(tmp_path / "cuckoo.head", index.manifest)
    assert again == HeadCard.load(tmp_path / "cuckoo.head") and again.classes.keys() == {"cuckoo"}
    scores = np.asarray(head.predict(index.embeddings(), verbose=0))[:, 0]
    windows = index.windows
    calls = (windows.path.str[-6:-4].astype(int) % 2 == 0) & windows.window.between(2, 4)
    assert scores[calls.to_numpy()].min() > scores[~calls.to_numpy()].mean()


def test_another_model_or_windows_is_refused_in_one_line(index, tmp_path):
    train_index_head(index, _labels(), tmp_path / "h", ["cuckoo"], epochs=1, folds=2)
    card = HeadCard.load(tmp_path / "h")
    other = dict(index.manifest, weights_sha256="1" * 64)
    with pytest.raises(ArchiveError, match="trained on weights_sha256 '0000.*the index has '1111"):
        card.check_base(other)
    with pytest.raises(ArchiveError, match="hop_seconds 1.0.*has 0.5"):
        load_head(tmp_path / "h", dict(index.manifest, hop_seconds=0.5))


def test_bad_heads_are_refused(index, tmp_path):
    with pytest.raises(ArchiveError, match="named like classes of the base model: 'dog'"):
        check_class_names(["dog", "cuckoo"], ["Speech", "Dog"])
    labels = _labels()
    negatives_only = labels.assign(label_type="negative")
    with pytest.raises(ArchiveError, match="no positive window of cuckoo"):
        train_index_head(index, negatives_only, tmp_path / "none", ["cuckoo"], epochs=1)
    assert not (tmp_path / "none").exists()
    with pytest.raises(ArchiveError, match="not a keras-panns head"):
        HeadCard.load(tmp_path)


def test_the_classify_command_trains_and_prints_the_held_out_figures(index, tmp_path, capsys):
    from keras_panns.cli.main import main

    labels = tmp_path / "labels.csv"
    frame = _labels()
    frame.assign(path=frame.path.str.rsplit("/", n=1).str[-1]).to_csv(labels, index=False)  # names: matched by name
    argv = ["keras-panns", "classify", "train", str(index.path), "--labels", str(labels), "--out", str(tmp_path / "h")]
    assert main([*argv, "--classes", "cuckoo", "--epochs", "20", "--folds", "3"]) == 0
    out = capsys.readouterr()
    assert "cuckoo" in out.out and "AP" in out.out and "wrote" in out.err
    card = json.loads((tmp_path / "h" / "card.json").read_text())
    assert card["format"] == "keras-panns-head/1" and len(card["training"]["labels_sha256"]) == 64
    assert main([*argv, "--target", "precision=2"]) == 2
