"""The PANNs log-mel front end as a Keras layer.

PANNs computes features with torchlibrosa: reflect padding, a periodic Hann
window, a DFT written as two convolutions, the power spectrum, a Slaney mel
filter bank (librosa's default `htk=False, norm='slaney'`) and
`10 * log10(max(x, 1e-10))` without any `top_db` clipping. This layer does the
same in `keras.ops`, so it runs on every backend and exports to ONNX/TFLite.

Two ways to compute the DFT give the same spectrogram (to ~1e-6 relative):
`dft="conv"`, torchlibrosa's own convolution with the windowed DFT basis (bit
for bit the reference, and the only one GPU delegates without an FFT kernel
can run), and `dft="fft"`, `ops.stft`'s real FFT (50x fewer operations for the
front end; TFLite runs it as its builtin `RFFT2D`).
"""

import keras
import numpy as np
from keras import ops

DFT_MODES = ("conv", "fft")


def periodic_hann(n):
    """The periodic Hann window torchlibrosa uses (`fftbins=True`): w[0] = 0."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def stft_kernels(n_fft):
    """Real and imaginary DFT kernels, shape `(n_fft, n_fft // 2 + 1)` each.

    Equal to torchlibrosa's `conv_real.weight[:, 0, :].T` and
    `conv_imag.weight[:, 0, :].T`: the windowed `cos` and `-sin` basis, unscaled.

    Args:
        n_fft: int. The window size.

    Returns:
        `(real, imag)`, float32 arrays.

    Example:
    ```python
    real, imag = keras_panns.layers.stft_kernels(1024)
    real.shape  # (1024, 513)
    ```
    """
    n = np.arange(n_fft)[:, None]
    k = np.arange(n_fft // 2 + 1)[None, :]
    # Reducing n*k modulo n_fft keeps the angle small, so float64 is exact
    # enough that the float32 result equals torchlibrosa's rounding.
    angle = 2.0 * np.pi * ((n * k) % n_fft) / n_fft
    window = periodic_hann(n_fft)[:, None]
    real = (np.cos(angle) * window).astype(np.float32)
    imag = (-np.sin(angle) * window).astype(np.float32)
    return real, imag


def _hz_to_mel(freq):
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa htk=False)."""
    freq = np.asanyarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = freq / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = freq >= min_log_hz
    mels = np.where(log_region, min_log_mel + np.log(np.maximum(freq, 1e-12) / min_log_hz) / logstep, mels)
    return mels


def _mel_to_hz(mels):
    mels = np.asanyarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    return np.where(log_region, min_log_hz * np.exp(logstep * (mels - min_log_mel)), freqs)


def mel_filter_bank(sample_rate, n_fft, n_mels, fmin, fmax):
    """Slaney mel filter bank, shape `(n_fft // 2 + 1, n_mels)`, float32.

    Bit-for-bit `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax).T`
    (`htk=False, norm='slaney'`), written in numpy so that building a model
    does not import librosa.

    Args:
        sample_rate: int. Hz.
        n_fft: int. The STFT size.
        n_mels: int. Mel bins.
        fmin: float. Lowest frequency, Hz.
        fmax: float. Highest frequency, Hz (at most the Nyquist frequency).

    Returns:
        float32 array `(n_fft // 2 + 1, n_mels)`.

    Raises:
        ValueError: the band does not fit the sample rate (`0 <= fmin < fmax <= sample_rate / 2`).

    Example:
    ```python
    keras_panns.layers.mel_filter_bank(32000, 1024, 64, 50, 14000).shape  # (513, 64)
    ```
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(
            f"Mel band [{fmin}, {fmax}] Hz does not fit sample rate {sample_rate} Hz: need "
            f"0 <= fmin < fmax <= {sample_rate / 2:g} (fmax above Nyquist gives all-zero mel bins)."
        )
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_points = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    mel_f = _mel_to_hz(mel_points)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    # librosa scales the float32 triangles in place by a float64 norm; do the
    # same so the rounding matches.
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return np.ascontiguousarray(weights.T)


@keras.saving.register_keras_serializable(package="keras_panns")
class LogMelSpectrogram(keras.layers.Layer):
    """PANNs/torchlibrosa log-mel spectrogram of a batch of waveforms.

    Always computes in float32 whatever the dtype policy: power spectra reach
    ~1e6 and overflow float16. The DFT kernels and the mel matrix are
    non-trainable weights, so they travel with saved models and can be
    compared against the tensors stored in official PANNs checkpoints.

    Args:
        sample_rate: int. Sample rate of the input in Hz.
        window_size: int. FFT size and window length in samples.
        hop_size: int. Hop between frames in samples.
        mel_bins: int. Number of mel bands.
        fmin: float. Lowest mel band edge in Hz.
        fmax: float. Highest mel band edge in Hz.
        amin: float. Floor of the mel power before the logarithm.
        dft: str. `"conv"` (the reference's DFT convolution, default) or
            `"fft"` (real FFT). Not part of the weights: a model can switch
            with `set_dft` after loading, e.g. before export.

    Call arguments:
        inputs: float tensor `(batch, samples)`; `samples` must exceed
            `window_size // 2` (reflect padding).

    Returns:
        float32 tensor `(batch, 1 + samples // hop_size, mel_bins)` in dB.

    Example:
    ```python
    layer = keras_panns.layers.LogMelSpectrogram()
    logmel = layer(np.zeros((2, 32000), "float32"))  # (2, 101, 64)
    ```
    """

    def __init__(
        self,
        sample_rate=32000,
        window_size=1024,
        hop_size=320,
        mel_bins=64,
        fmin=50,
        fmax=14000,
        amin=1e-10,
        dft="conv",
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.sample_rate = int(sample_rate)
        self.window_size = int(window_size)
        self.hop_size = int(hop_size)
        self.mel_bins = int(mel_bins)
        self.fmin = fmin
        self.fmax = fmax
        self.amin = amin
        self.dft = check_dft(dft)
        # Validate now, not at build time, so a bad config fails where it is written.
        self._mel_init = mel_filter_bank(self.sample_rate, self.window_size, self.mel_bins, fmin, fmax)
        self._real_init, self._imag_init = stft_kernels(self.window_size)

    @property
    def frequency_bins(self):
        return self.window_size // 2 + 1

    def build(self, input_shape):
        def constant(value):
            return lambda shape, dtype=None: ops.convert_to_tensor(value, dtype="float32")

        f = self.frequency_bins
        self.real_kernel = self.add_weight(
            name="real_kernel", shape=(self.window_size, f), initializer=constant(self._real_init), trainable=False
        )
        self.imag_kernel = self.add_weight(
            name="imag_kernel", shape=(self.window_size, f), initializer=constant(self._imag_init), trainable=False
        )
        self.mel_matrix = self.add_weight(
            name="mel_matrix", shape=(f, self.mel_bins), initializer=constant(self._mel_init), trainable=False
        )

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.dft == "fft":
            real, imag = ops.stft(
                x,
                self.window_size,
                self.hop_size,
                self.window_size,
                window=periodic_hann(self.window_size).astype("float32"),
                center=True,
            )
            return self._log_mel(ops.square(real) + ops.square(imag))
        pad = self.window_size // 2
        x = ops.pad(x, [[0, 0], [pad, pad]], mode="reflect")
        x = ops.expand_dims(x, -1)
        kernel = ops.expand_dims(ops.concatenate([self.real_kernel, self.imag_kernel], axis=-1), 1)
        spectrum = ops.conv(x, kernel, strides=self.hop_size, padding="valid")
        real, imag = ops.split(spectrum, 2, axis=-1)
        return self._log_mel(ops.square(real) + ops.square(imag))

    def _log_mel(self, power):
        mel = ops.matmul(power, self.mel_matrix)
        return 10.0 * ops.log10(ops.maximum(mel, self.amin))

    def num_frames(self, num_samples):
        """Frames produced for `num_samples` input samples (centered STFT).

        Args:
            num_samples: int.

        Returns:
            int, `1 + num_samples // hop_size`.

        Example:
        ```python
        keras_panns.layers.LogMelSpectrogram().num_frames(320000)  # 1001
        ```
        """
        return 1 + num_samples // self.hop_size

    def compute_output_shape(self, input_shape):
        length = input_shape[-1]
        frames = None if length is None else 1 + (length // self.hop_size)
        return (input_shape[0], frames, self.mel_bins)

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            window_size=self.window_size,
            hop_size=self.hop_size,
            mel_bins=self.mel_bins,
            fmin=self.fmin,
            fmax=self.fmax,
            amin=self.amin,
            dft=self.dft,
        )
        config.pop("dtype", None)
        return config


def check_dft(dft):
    if dft not in DFT_MODES:
        raise ValueError(f"dft must be one of {DFT_MODES}, got {dft!r}")
    return dft


def set_dft(model, dft):
    """Switches every log-mel front end of `model` to `dft` (`"conv"` or `"fft"`); returns the previous mode.

    The mode decides how the graph is traced, so set it before the first call
    (export traces anew). It changes no weight.

    Args:
        model: a Keras model.
        dft: str, one of `DFT_MODES`.

    Returns:
        str, the mode before (the requested one for models without a log-mel front end).

    Raises:
        ValueError: `dft` is not a mode.

    Example:
    ```python
    previous = keras_panns.layers.set_dft(model, "fft")
    ```
    """
    check_dft(dft)
    layers = log_mel_layers(model)
    previous = layers[0].dft if layers else dft
    for layer in layers:
        layer.dft = dft
    return previous


def log_mel_layers(model):
    """The `LogMelSpectrogram` layers of a model, in layer order (none for raw-waveform models).

    Args:
        model: a Keras model.

    Returns:
        A list of `LogMelSpectrogram`.

    Example:
    ```python
    len(keras_panns.layers.log_mel_layers(keras_panns.Wavegram_Logmel_Cnn14()))  # 1
    ```
    """
    return [layer for layer in model.layers if isinstance(layer, LogMelSpectrogram)]
