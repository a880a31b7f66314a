"""PANNs' training forward with feature mixup, against the reference implementation.

panns_inference's Cnn14 is the reference `Cnn14` with `do_mixup` after bn0
and SpecAugment. Both networks get the golden synthetic weights, the same
four clips and mixing coefficients, and run in training mode (batch
statistics in every BatchNorm: bn0 over the four unmixed clips, the rest over
the two mixed ones) with dropout and SpecAugment off, the only random parts.
"""

import numpy as np

from keras_panns.checkpoint import port_state_dict
from keras_panns.testing import golden


def test_cnn14_training_forward_with_feature_mixup_matches_the_reference(panns_inference_models, monkeypatch):
    import torch

    import keras_panns
    from keras_panns.training import with_feature_mixup

    state = golden.fixture_state_dict("Cnn14")
    config = golden.load_spec("Cnn14")["config"]
    reference = panns_inference_models.Cnn14(**config)
    reference.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    reference.spec_augmenter = torch.nn.Identity()
    monkeypatch.setattr(panns_inference_models.F, "dropout", lambda x, p=0.5, training=False, inplace=False: x)
    reference.train()

    model = keras_panns.Cnn14(spec_augment=False, block_dropout=0.0, head_dropout=0.0)
    port_state_dict(model, state)
    twin = with_feature_mixup(model)

    rng = np.random.RandomState(0)
    clips = golden.load_inputs(32000)["clip_10s"][:64000]
    waveform = np.stack([clips, rng.normal(0, 0.1, 64000), clips[::-1].copy(), rng.uniform(-0.3, 0.3, 64000)])
    waveform = waveform.astype("float32")
    lam = np.array([0.3, 0.7, 0.85, 0.15], "float32")
    with torch.no_grad():
        expected = reference(torch.from_numpy(waveform), torch.from_numpy(lam))
    got = twin({"waveform": waveform, "mixup_lambda": lam}, training=True)
    ref_scores = expected["clipwise_output"].numpy()
    assert ref_scores.shape == (2, 527) and ref_scores.std() > 0.05  # an informative comparison
    print("max |Δ clipwise| vs reference:", np.abs(np.asarray(got["clipwise_output"]) - ref_scores).max())
    np.testing.assert_allclose(np.asarray(got["clipwise_output"]), ref_scores, rtol=0, atol=1e-4)
    ref_embedding = expected["embedding"].numpy()
    assert np.abs(np.asarray(got["embedding"]) - ref_embedding).max() <= 1e-4 * np.abs(ref_embedding).max()
    # Without mixup inside (mixing the waveforms instead) the scores differ: the placement matters.
    wave_mixed = (waveform[0::2] * lam[0::2, None] + waveform[1::2] * lam[1::2, None]).astype("float32")
    elsewhere = np.asarray(model(wave_mixed, training=True)["clipwise_output"])
    assert np.abs(elsewhere - ref_scores).max() > 1e-2
