"""The loaders behind `from_pretrained` and the preset directory layout (keras-hub's)."""

import json

import keras
import numpy as np
import pytest

import keras_panns
from keras_panns.errors import CheckpointError, UnknownModelError
from keras_panns.hub import loaders, presets, zoo
from keras_panns.models.log_mel_tagger import LogMelTagger

SMALL = dict(num_classes=4, embedding_size=8, labels=["a", "b", "c", "d"])
X = np.random.RandomState(0).uniform(-0.5, 0.5, (1, 9000)).astype("float32")


@pytest.fixture(scope="module")
def cnn6():
    return keras_panns.Cnn6(**SMALL)


def _scores(model):
    return np.asarray(model.predict_on_batch(X)["clipwise_output"])


def _body(model):
    return model.get_layer("conv_block1__conv1").get_weights()[0]


def test_preset_has_keras_hub_layout(cnn6, tmp_path):
    directory = cnn6.save_to_preset(tmp_path / "preset")
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.md",
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    config = json.loads((directory / "config.json").read_text())
    # What keras_hub.upload_preset validates and what its check_config_class resolves the class from:
    assert config["registered_name"] == "keras_panns>Cnn6" and config["class_name"] == "Cnn6"
    assert keras.saving.get_registered_object(config["registered_name"]) is keras_panns.Cnn6
    assert "build_config" not in config and "compile_config" not in config
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["keras_version"] == keras.version() and metadata["parameter_count"] == cnn6.count_params()
    assert metadata["zoo_card"] is None and metadata["keras_panns_version"] == keras_panns.__version__
    readme = (directory / "README.md").read_text()
    assert readme.startswith("---\nlibrary_name: keras") and "32000 Hz" in readme
    np.testing.assert_allclose(_scores(keras_panns.Cnn6.from_preset(str(directory))), _scores(cnn6), atol=1e-6)


def test_preset_records_the_zoo_card(cnn6, tmp_path):
    card = zoo.get_card("cnn6")
    directory = presets.save_preset(cnn6, tmp_path / "p", card=card)
    assert keras_panns.from_pretrained(str(directory)).card == card
    assert "CC-BY-4.0" in (directory / "README.md").read_text()


def test_keras_0_1_preset_layout_still_loads(cnn6, tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text(json.dumps({"architecture": "Cnn6", "config": cnn6.get_config()}))
    (legacy / "card.json").write_text(json.dumps(zoo.get_card("cnn6").to_dict()))
    cnn6.save_weights(str(legacy / "model.weights.h5"))
    loaded = keras_panns.from_pretrained(str(legacy))
    assert loaded.card.name == "cnn6"
    np.testing.assert_allclose(_scores(loaded), _scores(cnn6), atol=1e-6)


def test_keras_file_honours_overrides_and_the_calling_class(cnn6, tmp_path):
    path = str(tmp_path / "cnn6.keras")
    cnn6.save(path)
    same = keras_panns.from_pretrained(path)
    assert type(same) is keras_panns.Cnn6
    np.testing.assert_allclose(_scores(same), _scores(cnn6), atol=1e-6)
    tuned = keras_panns.Cnn6.from_pretrained(path, num_classes=10, labels=None)
    assert tuned.output["clipwise_output"].shape[-1] == 10  # a new head, the pretrained body
    np.testing.assert_array_equal(_body(tuned), _body(cnn6))
    logits = LogMelTagger.from_pretrained(path, classifier_activation=None)  # a base class may ask
    np.testing.assert_allclose(1 / (1 + np.exp(-_scores(logits))), _scores(cnn6), atol=1e-5)
    with pytest.raises(UnknownModelError, match="not Cnn14"):
        keras_panns.Cnn14.from_pretrained(path)


def test_keras_file_that_is_not_a_panns_model(tmp_path):
    inputs = keras.Input((3,))
    path = str(tmp_path / "other.keras")
    keras.Model(inputs, keras.layers.Dense(1)(inputs)).save(path)
    with pytest.raises(CheckpointError, match="not a PANNs model"):
        keras_panns.from_pretrained(path)


def test_presets_list_the_zoo_cards_of_a_class():
    assert set(keras_panns.Cnn14.presets) == {
        "cnn14",
        "cnn14_16k",
        "cnn14_8k",
        "cnn14_emb512",
        "cnn14_emb128",
        "cnn14_emb32",
    }
    assert all(card.architecture == "Cnn14" for card in keras_panns.Cnn14.presets.values())
    assert list(keras_panns.Cnn14_DecisionLevelAtt.presets) == ["cnn14_decision_level_att"]
    assert set(keras_panns.PANNsModel.presets) == set(zoo.list_models())


def test_from_preset_without_weights_builds_the_card_config_offline():
    model = keras_panns.Cnn14.from_preset("cnn14_8k", load_weights=False, num_classes=3)
    assert model.sample_rate == 8000 and model.config["window_size"] == 256
    assert model.output["clipwise_output"].shape[-1] == 3
    with pytest.raises(UnknownModelError, match="not Cnn6"):
        keras_panns.Cnn6.from_preset("cnn14_8k", load_weights=False)


def test_each_source_kind_has_its_loader(cnn6, tmp_path):
    keras_file = tmp_path / "m.keras"
    cnn6.save(keras_file)
    pth = tmp_path / "Cnn6_mAP=0.343.pth"
    pth.write_bytes(b"")
    chosen = {
        str(keras_file): loaders.KerasFileLoader,
        str(tmp_path): loaders.PresetLoader,
        str(pth): loaders.CheckpointFileLoader,
        "https://example.invalid/x.pth": loaders.UrlLoader,
        "cnn6": loaders.ZooLoader,
        "Cnn6_mAP=0.343.pth": loaders.ZooLoader,
    }
    for source, kind in chosen.items():
        assert type(next(loader for loader in loaders.LOADERS if loader.matches(source))) is kind, source


def test_a_missing_checkpoint_path_is_named():
    with pytest.raises(CheckpointError, match="checkpoint not found: /nowhere/x.pth"):
        keras_panns.from_pretrained("/nowhere/x.pth")


def test_the_preset_api_works_without_the_facade(tmp_path):
    """The models never import the hub, yet their preset API works from a bare `keras_panns.models` import."""
    import subprocess
    import sys

    script = (
        f"from keras_panns.models import Cnn6\n"
        f"Cnn6(num_classes=2).save_to_preset({str(tmp_path / 'p')!r})\n"
        f"print(Cnn6.from_preset({str(tmp_path / 'p')!r}).config['num_classes'], sorted(Cnn6.presets))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["2", "['cnn6']"]


def test_weights_named_like_an_official_checkpoint_are_described_as_a_local_file(tmp_path):
    """A file named Cnn6_mAP=0.343.pth with other weights keeps the card's config, never its provenance."""
    torch = pytest.importorskip("torch")
    from keras_panns.demo.build import _card_info
    from keras_panns.export.metadata import describe
    from keras_panns.hub.download import file_hashes
    from keras_panns.testing import golden

    path = tmp_path / "Cnn6_mAP=0.343.pth"
    weights = {k: torch.from_numpy(np.asarray(v)) for k, v in golden.fixture_state_dict("Cnn6").items()}
    torch.save({"model": weights}, path)
    md5, sha256 = file_hashes(path)
    official = zoo.get_card("cnn6")
    with pytest.warns(UserWarning, match="described as a local file"):
        model = keras_panns.Cnn6.from_pretrained(str(path))
    card = model.card
    assert card.config == official.config and card.architecture == official.architecture
    assert card.checksum == f"sha256 {sha256}" and card.checkpoint["md5"] == md5 != official.checkpoint["md5"]
    assert card.checkpoint["url"] is None and not card.metrics and "local" in card.name

    def claims_official(text):
        return official.checkpoint["url"] in text or official.checkpoint["md5"] in text

    preset = keras_panns.save_preset(model, tmp_path / "preset")
    saved = (preset / "README.md").read_text() + (preset / "metadata.json").read_text()
    assert not claims_official(saved) and sha256 in saved
    assert keras_panns.Cnn6.from_preset(str(preset)).card == card  # the preset keeps the local description
    metadata = describe(model, 10.0)  # what export writes into TFLite Model Metadata
    assert not claims_official(json.dumps(metadata)) and sha256 in metadata["description"]
    page = _card_info(model)  # what the browser page shows
    assert not claims_official(json.dumps(page)) and page["digest"] == f"sha256 {sha256}"
    assert page["url"].startswith("a local file") and page["mAP"] is None
