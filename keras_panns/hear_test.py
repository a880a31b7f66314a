"""The HEAR 2021 API, checked as hear-validator checks a submission (it needs Python < 3.9, so not run here)."""

import numpy as np
import pytest
import tensorflow as tf

import keras_panns
from keras_panns import hear
from keras_panns.errors import AudioError


@pytest.fixture(scope="module")
def model():
    return hear.HearModel(keras_panns.Cnn14())


def _audio(seconds, model, n=2):
    return tf.constant(np.random.RandomState(0).uniform(-0.5, 0.5, (n, int(seconds * model.sample_rate))), tf.float32)


def test_the_attributes_the_kit_reads(model):
    assert isinstance(model, tf.Module)
    assert model.sample_rate == 32000 and model.scene_embedding_size == 2048
    assert model.timestamp_embedding_size == 2048 and model.timestamp_hop_ms == pytest.approx(320.0)


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0])
def test_timestamp_embeddings(model, seconds):
    embeddings, timestamps = hear.get_timestamp_embeddings(_audio(seconds, model), model)
    assert embeddings.dtype == tf.float32 and timestamps.dtype == tf.float32
    assert embeddings.shape[:2] == timestamps.shape and embeddings.shape[0] == 2 and embeddings.shape[2] == 2048
    stamps = timestamps.numpy()
    assert np.array_equal(stamps[0], stamps[1])
    steps = np.diff(stamps[0])
    assert np.all(np.abs(steps - steps.mean()) < 1.0)  # evenly spaced within 1 ms
    length = seconds * 1000.0
    hop = steps.mean() if len(steps) else model.timestamp_hop_ms
    assert length - 2 * hop <= stamps[0, -1] <= length
    assert np.all(np.isfinite(embeddings.numpy()))


def test_scene_embeddings_are_the_clip_embedding(model):
    audio = _audio(2.74, model)
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == tf.float32 and scene.shape == (2, 2048)
    np.testing.assert_allclose(scene.numpy(), model.model.predict_on_batch(audio.numpy())["embedding"], atol=1e-5)


def test_bad_input(model):
    with pytest.raises(AudioError, match="at least"):
        hear.get_scene_embeddings(tf.zeros((1, 100)), model)
    with pytest.raises(AudioError, match="n_sounds, n_samples"):
        hear.get_scene_embeddings(tf.zeros((100,)), model)
    with pytest.raises(TypeError, match="log-mel tagger"):
        hear.HearModel(keras_panns.LeeNet11())
