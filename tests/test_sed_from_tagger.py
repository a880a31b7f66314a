"""SED from any Cnn14 checkpoint: the decision-level forward on tagging weights, against the reference."""

import json

import numpy as np
import pytest

import keras_panns
from keras_panns.checkpoint import port_state_dict
from keras_panns.errors import CheckpointError
from keras_panns.testing import golden, parity_cases


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["Cnn14_16k", "Cnn14_8k"])
def test_decision_level_forward_of_a_tagger_matches_the_reference(fixture, panns_inference_models):
    import torch

    spec = golden.load_spec(fixture)
    state = golden.fixture_state_dict(fixture)
    # The reference Cnn14_DecisionLevelMax has exactly Cnn14's modules, so the tagging weights load strictly.
    reference = panns_inference_models.Cnn14_DecisionLevelMax(**spec["config"])
    reference.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    reference.eval()
    tagger = parity_cases.build(fixture, spec)
    port_state_dict(tagger, state)
    sed = keras_panns.Cnn14_DecisionLevelMax.from_tagger(tagger)
    assert sed.sample_rate == spec["config"]["sample_rate"]
    worst = 0.0
    for name, clip in golden.load_inputs(spec["config"]["sample_rate"]).items():
        if len(clip) < sed.min_samples:
            continue
        with torch.no_grad():
            expected = reference(torch.from_numpy(clip[None]))
        got = sed.predict_on_batch(clip[None])
        want = expected["framewise_output"].numpy()
        assert got["framewise_output"].shape == want.shape, name
        assert want.std() > 1e-3  # an informative comparison
        worst = max(worst, float(np.abs(got["framewise_output"] - want).max()))
        np.testing.assert_allclose(got["clipwise_output"], expected["clipwise_output"].numpy(), atol=1e-4)
    print(f"{fixture}: max |Δ framewise| vs reference {worst:.2e}")
    assert worst <= 1e-4


def test_only_full_cnn14_taggers_convert():
    with pytest.raises(CheckpointError, match="embedding_size 2048"):
        keras_panns.Cnn14_DecisionLevelMax.from_tagger(keras_panns.Cnn14(embedding_size=128))
    with pytest.raises(CheckpointError, match="head of its own"):
        keras_panns.Cnn14_DecisionLevelAtt.from_tagger(keras_panns.Cnn14())


@pytest.mark.slow
def test_sed_command_runs_a_16k_tagger(shared_data, tmp_path, capsys):
    from keras_panns.cli.main import main

    tagger = parity_cases.build("Cnn14_16k", golden.load_spec("Cnn14_16k"))
    port_state_dict(tagger, golden.fixture_state_dict("Cnn14_16k"))
    preset = str(tagger.save_to_preset(tmp_path / "cnn14_16k"))
    clip = str(sorted((shared_data / "esc10" / "audio").iterdir())[0])  # 16 kHz
    out = tmp_path / "events.json"
    assert main(["keras-panns", "sed", "--checkpoint", preset, "--window", "5", "--out", str(out), clip]) == 0
    assert "decision-level forward" in capsys.readouterr().err
    sed = keras_panns.Cnn14_DecisionLevelMax.from_tagger(keras_panns.from_pretrained(preset))
    expected = keras_panns.detect_events_long(sed, clip, window_seconds=5).events
    assert [e["label"] for e in json.loads(out.read_text())] == [e.label for e in expected]
