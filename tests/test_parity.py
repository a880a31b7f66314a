"""Parity with the official PyTorch PANNs outputs in ../shared/golden.

Each fixture's weights are made by the documented rule, ported exactly as an
official checkpoint is, and every clip must reproduce the reference:
<= 1e-4 absolute on clipwise output and <= 1e-4 relative on the embedding.
"""

import numpy as np
import pytest

import golden
import parity_cases
from keras_panns.checkpoint import port_state_dict

CLIPWISE_ATOL = 1e-4
EMBEDDING_RTOL = 1e-4


@pytest.fixture(scope="module", params=sorted(parity_cases.CNN_CASES))
def ported(request):
    name = request.param
    spec = golden.load_spec(name)
    model = parity_cases.build(name, spec)
    report = port_state_dict(model, golden.fixture_state_dict(name))
    assert len(report.checked) == 3 and not report.skipped
    return name, spec, model


def _relative(got, ref):
    return np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-12)


def test_every_clip_matches_the_reference(ported):
    name, spec, model = ported
    inputs = golden.load_inputs(spec["config"]["sample_rate"])
    expected = golden.load_outputs(name)
    assert set(spec["clips"]) == set(inputs)
    for clip, waveform in inputs.items():
        out = model.predict_on_batch(waveform[None])
        clipwise = np.asarray(out["clipwise_output"])[0]
        embedding = np.asarray(out["embedding"])[0]
        np.testing.assert_allclose(clipwise, expected[f"{clip}/clipwise_output"], rtol=0, atol=CLIPWISE_ATOL,
                                   err_msg=f"{name} {clip}")
        assert embedding.shape == expected[f"{clip}/embedding"].shape
        assert _relative(embedding, expected[f"{clip}/embedding"]) <= EMBEDDING_RTOL, f"{name} {clip}"


def test_batch_of_two_equals_alone(ported):
    name, spec, model = ported
    clip = golden.load_inputs(spec["config"]["sample_rate"])["clip_3s2"]
    batch = np.stack([clip, clip[::-1]])
    out = np.asarray(model.predict_on_batch(batch)["clipwise_output"])
    alone = [np.asarray(model.predict_on_batch(x[None])["clipwise_output"])[0] for x in batch]
    np.testing.assert_allclose(out[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(out[1], alone[1], atol=1e-5)
    np.testing.assert_allclose(out[0], golden.load_outputs(name)["clip_3s2/clipwise_output"], atol=CLIPWISE_ATOL)


def test_trainable_parameters_equal_the_paper(ported):
    name, spec, model = ported
    # The fixture key list is an official state dict: its trainable tensors are
    # everything but the frozen front end and BatchNorm statistics.
    expected = sum(int(np.prod(shape)) for key, shape, _ in spec["keys"]
                   if not key.startswith(("spectrogram_extractor", "logmel_extractor"))
                   and not key.endswith(("running_mean", "running_var", "num_batches_tracked")))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected
    paper = {"Cnn6": 4_837_455, "Cnn10": 5_219_279, "Cnn14": 80_753_615, "Cnn14_emb512": 76_796_879,
             "Cnn14_emb128": 75_807_695, "Cnn14_emb32": 75_560_399, "Cnn14_mel32": 80_753_551,
             "Cnn14_mel128": 80_753_743, "ResNet22": 63_675_087, "ResNet38": 73_783_247,
             "ResNet54": 104_318_159, "MobileNetV1": 4_796_303, "MobileNetV2": 4_075_343}
    if name in paper:
        assert trainable == paper[name]
