import keras
import numpy as np
import pytest

import keras_panns
from keras_panns.errors import AudioError


def test_output_dict_and_shapes():
    model = keras_panns.Cnn6(num_classes=7, embedding_size=16)
    out = model.predict_on_batch(np.zeros((2, 16000), "float32"))
    assert set(out) == {"clipwise_output", "embedding"}
    assert out["clipwise_output"].shape == (2, 7) and out["embedding"].shape == (2, 16)


def test_include_top_false_returns_only_the_embedding():
    model = keras_panns.Cnn10(include_top=False)
    out = model.predict_on_batch(np.zeros((1, 8000), "float32"))
    assert set(out) == {"embedding"} and out["embedding"].shape == (1, 512)
    assert "fc_audioset" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("cls,minimum", [(keras_panns.Cnn14, 31 * 320), (keras_panns.Cnn6, 15 * 320)])
def test_too_short_input_names_the_minimum(cls, minimum):
    model = cls(embedding_size=8)
    assert model.min_samples == minimum
    with pytest.raises(AudioError, match=f"at least {minimum} samples"):
        model.predict_on_batch(np.zeros((1, minimum - 1), "float32"))
    model.predict_on_batch(np.zeros((1, minimum), "float32"))  # the minimum itself works


def test_keras_file_round_trip(tmp_path):
    model = keras_panns.Cnn6(num_classes=5, embedding_size=8, labels=list("abcde"), seed=3)
    x = np.random.RandomState(0).uniform(-0.5, 0.5, (1, 12000)).astype("float32")
    path = tmp_path / "cnn6.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is keras_panns.Cnn6 and loaded.get_config() == model.get_config()
    assert loaded.labels == list("abcde")
    np.testing.assert_allclose(
        loaded.predict_on_batch(x)["clipwise_output"], model.predict_on_batch(x)["clipwise_output"], atol=1e-6
    )


def test_no_lambda_layers():
    model = keras_panns.Cnn14(embedding_size=8)
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Lambda)]


def test_mixed_precision_keeps_front_end_and_head_in_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = keras_panns.Cnn6(embedding_size=8)
        dtypes = {layer.name: layer.compute_dtype for layer in model.layers}
        assert dtypes["logmel_extractor"] == "float32" and dtypes["bn0"] == "float32"
        assert dtypes["fc_audioset"] == "float32" and dtypes["conv_block1__conv1"] == "bfloat16"
        out = model.predict_on_batch(np.ones((1, 8000), "float32"))
        assert out["clipwise_output"].dtype == np.float32 and np.all(np.isfinite(out["clipwise_output"]))
    finally:
        keras.config.set_dtype_policy(previous)


def test_spec_augment_only_in_training():
    model = keras_panns.Cnn6(embedding_size=8, seed=0, head_dropout=0.0, block_dropout=0.0)
    x = np.random.RandomState(1).uniform(-0.5, 0.5, (2, 32000)).astype("float32")
    a = keras.ops.convert_to_numpy(model(x, training=False)["embedding"])
    b = keras.ops.convert_to_numpy(model(x, training=False)["embedding"])
    np.testing.assert_array_equal(a, b)
    c = keras.ops.convert_to_numpy(model(x, training=True)["embedding"])
    assert not np.allclose(a, c)


def test_labels_default_to_audioset():
    assert keras_panns.Cnn6(embedding_size=8).labels[:2] == ["Speech", "Male speech, man speaking"]
    with pytest.raises(ValueError, match="labels has 2 names"):
        keras_panns.Cnn6(num_classes=3, labels=["a", "b"])
