"""Cnn14_DecisionLevelMax, Avg and Att: framewise scores, and the clip score as their pooling."""

import numpy as np
import pytest

import keras_panns
from keras_panns.errors import CheckpointError

SMALL = dict(sample_rate=8000, window_size=256, hop_size=80, mel_bins=32, fmax=4000, num_classes=5)


@pytest.fixture(scope="module")
def waveform():
    return np.random.RandomState(0).uniform(-0.5, 0.5, (2, 16000)).astype("float32")  # 2 s at 8 kHz


@pytest.mark.parametrize(
    "cls", [keras_panns.Cnn14_DecisionLevelMax, keras_panns.Cnn14_DecisionLevelAvg, keras_panns.Cnn14_DecisionLevelAtt]
)
def test_framewise_output_has_one_row_per_hop(cls, waveform):
    out = cls(**SMALL).predict_on_batch(waveform)
    assert {"clipwise_output", "framewise_output"} <= set(out)
    assert out["framewise_output"].shape == (2, 16000 // 80 + 1, 5) and out["clipwise_output"].shape == (2, 5)
    assert np.all((out["framewise_output"] >= 0) & (out["framewise_output"] <= 1))


def test_decision_level_max_clip_score_is_the_highest_frame(waveform):
    out = keras_panns.Cnn14_DecisionLevelMax(**SMALL, seed=1).predict_on_batch(waveform)
    # Frames are the segment scores repeated, so their maximum is the segments' maximum: the clip score.
    np.testing.assert_allclose(out["framewise_output"].max(axis=1), out["clipwise_output"], atol=1e-6)


def test_from_tagger_needs_a_cnn14_with_its_classifier():
    with pytest.raises(CheckpointError, match="needs a Cnn14 with embedding_size 2048"):
        keras_panns.Cnn14_DecisionLevelMax.from_tagger(keras_panns.Cnn14(**SMALL, include_top=False))
    with pytest.raises(CheckpointError, match="a head of its own"):
        keras_panns.Cnn14_DecisionLevelAtt.from_tagger(keras_panns.Cnn14(**SMALL))
