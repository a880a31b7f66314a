"""Base of the 2-D log-mel taggers (Cnn*, ResNet*, MobileNet*): shared front
end, head, constructor arguments and config; subclasses only build the body."""

from collections.abc import Sequence

import keras

from keras_panns.models import blocks
from keras_panns.models.config import check_labels, constructor_arguments
from keras_panns.models.panns_model import PANNsModel


class LogMelTagger(PANNsModel):
    """Waveform -> log-mel -> bn0 -> [SpecAugment] -> `_body` -> PANNs tagging head.

    Subclasses implement `_body(x, *, dtype, lengths, block_dropout, waveform)` (the one hook of
    every family, the waveform ones too) returning a
    `(batch, time, freq, channels)` feature map, and set `time_stride` /
    `freq_stride` (total pooling, for input checks) and
    `_default_embedding_size`.
    """

    time_stride = 32
    freq_stride = 32
    _default_embedding_size = 2048
    #: MobileNetV2 has no dropout before fc1 (commented out in the reference).
    _dropout_before_fc1 = True

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50,
        fmax: float = 14000,
        num_classes: int = 527,
        embedding_size: int | None = None,
        include_top: bool = True,
        classifier_activation: str | None = "sigmoid",
        pooling: str = "avg+max",
        spec_augment: bool = True,
        freq_drop_width: int | None = None,
        block_dropout: float = 0.2,
        head_dropout: float = 0.5,
        input_length: int | None = None,
        labels: Sequence[str] | None = None,
        seed: int | None = None,
        name: str | None = None,
        dtype: str | keras.DTypePolicy | None = None,
        **kwargs: object,
    ) -> None:
        if embedding_size is None:
            embedding_size = self._default_embedding_size
        check_labels(labels, num_classes)
        if mel_bins < self.freq_stride:
            raise ValueError(
                f"{type(self).__name__} pools frequency by {self.freq_stride}; mel_bins={mel_bins} is too few"
            )

        waveform = blocks.waveform_input(input_length)
        x = blocks.log_mel_stem(
            waveform,
            sample_rate=sample_rate,
            window_size=window_size,
            hop_size=hop_size,
            mel_bins=mel_bins,
            fmin=fmin,
            fmax=fmax,
            spec_augment=spec_augment,
            freq_drop_width=freq_drop_width,
            seed=seed,
        )
        # Bodies with a 1-D branch (Wavegram) record its length arithmetic here.
        lengths = blocks.Lengths()
        x = self._body(x, dtype=dtype, block_dropout=block_dropout, waveform=waveform, lengths=lengths)
        outputs = blocks.tagging_head(
            x,
            embedding_size=embedding_size,
            num_classes=num_classes,
            include_top=include_top,
            classifier_activation=classifier_activation,
            pooling=pooling,
            head_dropout=head_dropout,
            dropout_before_fc1=self._dropout_before_fc1,
            dtype=dtype,
        )
        self._build_model(
            waveform,
            outputs,
            config=constructor_arguments(LogMelTagger.__init__, locals()),
            min_samples=max(
                blocks.min_samples_for_pooling(self.time_stride, hop_size, window_size),
                lengths.min_samples() if lengths.ops else 0,
            ),
            name=name,
            **kwargs,
        )

    def _body(self, x, *, dtype, lengths, block_dropout=None, waveform=None):
        raise NotImplementedError


def front_end_for_rate(sample_rate):
    """PANNs' front end at another rate: window and hop scale with it, fmax is capped below Nyquist.

    Example:
    ```python
    front_end_for_rate(16000)  # {'window_size': 512, 'hop_size': 160, 'fmax': 8000}  (as Cnn14_16k)
    ```
    """
    scale = sample_rate / 32000
    return {"window_size": int(1024 * scale), "hop_size": int(320 * scale), "fmax": min(14000, sample_rate // 2)}


def dropout(rate, name, dtype):
    return keras.layers.Dropout(rate, name=name, dtype=dtype)
