"""Strict checkpoint accounting: every problem listed by name and shape."""

import numpy as np
import pytest

import keras_panns
from keras_panns.checkpoint import port_state_dict
from keras_panns.errors import CheckpointError
from keras_panns.testing import golden


@pytest.fixture(scope="module")
def cnn6_state():
    return golden.fixture_state_dict("Cnn6")


def test_mismatches_are_listed_by_name_and_shape(cnn6_state):
    state = dict(cnn6_state)
    del state["conv_block2.bn1.running_var"]
    state["fc1.weight"] = np.zeros((7, 512), np.float32)
    state["extra.weight"] = np.zeros((3,), np.float32)
    with pytest.raises(CheckpointError) as info:
        port_state_dict(keras_panns.Cnn6(), state)
    message = str(info.value)
    assert "missing    conv_block2.bn1.running_var" in message
    assert "shape      fc1.weight  checkpoint (7, 512)" in message
    assert "unexpected extra.weight  (3,)" in message


def test_nothing_is_loaded_when_the_checkpoint_does_not_fit(cnn6_state):
    model = keras_panns.Cnn6()
    before = model.get_layer("fc1").get_weights()[0].copy()
    state = dict(cnn6_state)
    state.pop("fc_audioset.bias")
    with pytest.raises(CheckpointError):
        port_state_dict(model, state)
    np.testing.assert_array_equal(model.get_layer("fc1").get_weights()[0], before)


def test_whole_checkpoint_instead_of_model_entry_gets_a_hint(cnn6_state):
    with pytest.raises(CheckpointError, match=r"checkpoint\['model'\]"):
        port_state_dict(keras_panns.Cnn6(), {"iteration": np.array(1), "model": np.array(0)})


def test_front_end_of_another_config_is_detected(cnn6_state):
    # Same shapes, different mel band: only the value check can catch it.
    model = keras_panns.Cnn6(fmax=12000)
    with pytest.raises(CheckpointError, match="front end  logmel_extractor.melW"):
        port_state_dict(model, cnn6_state)
    with pytest.raises(CheckpointError, match="spectrogram_extractor.stft.conv_real.weight  checkpoint"):
        port_state_dict(keras_panns.Cnn6(sample_rate=16000, window_size=512, hop_size=160, fmax=8000), cnn6_state)


def test_skipping_the_head_for_a_new_label_set(cnn6_state):
    model = keras_panns.Cnn6(num_classes=10)
    report = port_state_dict(model, cnn6_state, skip_prefixes=("fc_audioset",))
    assert sorted(report.skipped) == ["fc_audioset.bias", "fc_audioset.weight"]
    assert len(report.ignored) == 5  # num_batches_tracked of bn0 and the four blocks
