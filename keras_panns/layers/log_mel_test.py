import keras
import librosa
import numpy as np
import pytest

from keras_panns.layers.log_mel import LogMelSpectrogram, mel_filter_bank, periodic_hann, stft_kernels

CONFIGS = [
    (32000, 1024, 320, 64, 50, 14000),
    (16000, 512, 160, 64, 50, 8000),
    (8000, 256, 80, 64, 50, 4000),
    (32000, 1024, 320, 128, 50, 14000),
    (32000, 1024, 320, 32, 50, 14000),
]


def _test_signal(sr, seconds=2.0, seed=0):
    rs = np.random.RandomState(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.05 * rs.randn(t.size)
    return x.astype(np.float32)


@pytest.mark.parametrize("sr,n_fft,hop,mels,fmin,fmax", CONFIGS)
def test_mel_filter_bank_equals_librosa_slaney(sr, n_fft, hop, mels, fmin, fmax):
    ours = mel_filter_bank(sr, n_fft, mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney").T
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)


def test_mel_filter_bank_rejects_fmax_above_nyquist():
    with pytest.raises(ValueError, match="Nyquist"):
        mel_filter_bank(16000, 512, 64, 50, 14000)


def test_stft_kernels_are_windowed_dft():
    real, imag = stft_kernels(256)
    window = periodic_hann(256)
    assert window[0] == 0 and window[128] == pytest.approx(1.0)
    dft = np.fft.rfft(np.diag(window), axis=0).T  # [n, k] = window[n] * exp(-2 pi i n k / N)
    np.testing.assert_allclose(real, dft.real, atol=1e-6)
    np.testing.assert_allclose(imag, dft.imag, atol=1e-6)


@pytest.mark.parametrize("sr,n_fft,hop,mels,fmin,fmax", CONFIGS[:3])
def test_log_mel_matches_librosa_reference_within_1e_3_db(sr, n_fft, hop, mels, fmin, fmax):
    x = _test_signal(sr)
    layer = LogMelSpectrogram(sr, n_fft, hop, mels, fmin, fmax)
    ours = keras.ops.convert_to_numpy(layer(x[None]))[0]
    mel = librosa.feature.melspectrogram(
        y=x.astype(np.float64),
        sr=sr,
        n_fft=n_fft,
        hop_length=hop,
        win_length=n_fft,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=2.0,
        n_mels=mels,
        fmin=fmin,
        fmax=fmax,
        htk=False,
        norm="slaney",
    )
    ref = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T
    assert ours.shape == ref.shape == (1 + len(x) // hop, mels)
    assert np.max(np.abs(ours - ref)) < 1e-3


def test_log_mel_is_float32_under_mixed_policy():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = LogMelSpectrogram()
        loud = np.ones((1, 32000), np.float32)  # power far beyond float16's 65504
        out = layer(loud)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert np.all(np.isfinite(keras.ops.convert_to_numpy(out)))
    finally:
        keras.config.set_dtype_policy(previous)


def test_log_mel_weights_are_frozen_and_config_round_trips():
    layer = LogMelSpectrogram(16000, 512, 160, 64, 50, 8000)
    layer.build((None, None))
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 3
    clone = LogMelSpectrogram.from_config(layer.get_config())
    x = _test_signal(16000, 0.5)[None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(layer(x)))


@pytest.mark.parametrize("sr,n_fft,hop,mels,fmin,fmax", CONFIGS[:3])
def test_fft_dft_equals_the_reference_convolution(sr, n_fft, hop, mels, fmin, fmax):
    conv = LogMelSpectrogram(sr, n_fft, hop, mels, fmin, fmax)
    fft = LogMelSpectrogram(sr, n_fft, hop, mels, fmin, fmax, dft="fft")
    # An odd length, and digital silence (the amin floor) in the second row.
    x = np.stack([_test_signal(sr, 1.37), np.zeros(int(sr * 1.37), np.float32)])
    want, got = (keras.ops.convert_to_numpy(layer(x)) for layer in (conv, fft))
    assert got.shape == want.shape == (2, 1 + x.shape[1] // hop, mels)
    np.testing.assert_allclose(got, want, atol=1e-3)  # dB; measured 1.2e-5 at 32 kHz
    np.testing.assert_array_equal(got[1], -100.0)
    config = fft.get_config()
    assert config["dft"] == "fft" and LogMelSpectrogram.from_config(config).dft == "fft"


def test_set_dft_switches_a_model_and_rejects_unknown_modes():
    import keras_panns
    from keras_panns.layers import set_dft

    model = keras_panns.Cnn6(mel_bins=32, sample_rate=16000, window_size=512, hop_size=160, fmax=8000)
    x = _test_signal(16000, 1.0)[None]
    want = keras.ops.convert_to_numpy(model(x)["clipwise_output"])
    assert set_dft(model, "fft") == "conv"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)["clipwise_output"]), want, atol=1e-5)
    assert set_dft(model, "conv") == "fft"
    with pytest.raises(ValueError, match="dft must be one of"):
        set_dft(model, "wavelet")
    with pytest.raises(ValueError, match="dft must be one of"):
        LogMelSpectrogram(dft="DFT")
