"""PANNs sound event detection: Cnn14_DecisionLevelMax, _Avg and _Att.

A Cnn14 trunk gives one 2048-d vector per 32 frames (320 ms); the head
classifies each segment and pools them into clip scores. Framewise output is
the reference's repeat-and-pad upsampling to the log-mel frame count.
"""

from collections.abc import Sequence

import keras

from keras_panns.checkpoint import transfer_weights
from keras_panns.errors import CheckpointError
from keras_panns.hub.registry import register_architecture
from keras_panns.layers import AttentionPooling, FramewiseUpsample, FrequencyMean, TemporalPooling
from keras_panns.models import blocks
from keras_panns.models.blocks import module_name
from keras_panns.models.cnn.cnn import Cnn14, cnn_body
from keras_panns.models.config import check_labels, constructor_arguments
from keras_panns.models.panns_model import PANNsModel

_TIME_STRIDE = 32


class _Cnn14DecisionLevel(PANNsModel):
    _clip_pooling = "max"

    def __init__(
        self,
        sample_rate: int = 32000,
        window_size: int = 1024,
        hop_size: int = 320,
        mel_bins: int = 64,
        fmin: float = 50,
        fmax: float = 14000,
        num_classes: int = 527,
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
        check_labels(labels, num_classes)

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
        x = cnn_body(x, Cnn14.block_channels, Cnn14.block_pools, block_dropout=block_dropout, dtype=dtype)
        x = FrequencyMean(name="frequency_mean", dtype=dtype)(x)
        # max_pool1d(3, 1, 1) + avg_pool1d(3, 1, 1): PyTorch pads by 1 and counts the padding in
        # the average, which Keras 'same' pooling does not; zeros are safe for max (inputs >= 0).
        padded = keras.layers.ZeroPadding1D(1, name="segment_padding", dtype=dtype)(x)
        x = keras.layers.Add(name="segment_smoothing", dtype=dtype)(
            [
                keras.layers.MaxPooling1D(3, 1, name="segment_max_pool", dtype=dtype)(padded),
                keras.layers.AveragePooling1D(3, 1, name="segment_avg_pool", dtype=dtype)(padded),
            ]
        )
        x = keras.layers.Dropout(head_dropout, name="head_dropout", dtype=dtype)(x)
        x = keras.layers.Dense(2048, activation="relu", name="fc1", dtype=dtype)(x)
        x = keras.layers.Dropout(head_dropout, name="fc1_dropout", dtype=dtype)(x)
        segmentwise, clipwise = self._head(x, num_classes)
        framewise = FramewiseUpsample(_TIME_STRIDE, hop_size, name="framewise_output", dtype="float32")(
            [segmentwise, waveform]
        )
        outputs = {"framewise_output": framewise, "clipwise_output": clipwise}
        self._build_model(
            waveform,
            outputs,
            config=constructor_arguments(_Cnn14DecisionLevel.__init__, locals()),
            min_samples=blocks.min_samples_for_pooling(_TIME_STRIDE, hop_size, window_size),
            name=name,
            **kwargs,
        )

    def _head(self, x, num_classes):
        segmentwise = keras.layers.Dense(num_classes, activation="sigmoid", name="fc_audioset", dtype="float32")(x)
        clipwise = TemporalPooling(self._clip_pooling, name="clip_pooling", dtype="float32")(segmentwise)
        return segmentwise, clipwise

    @classmethod
    def from_tagger(cls, tagger, **overrides):
        """The decision-level forward of a Cnn14 *tagging* model: sound event detection at its rate.

        The reference's Cnn14_DecisionLevelMax/Avg have exactly Cnn14's modules
        (bn0, conv_block1-6, fc1, fc_audioset); only the forward differs: fc1
        and the classifier run on every 320-ms segment before the clip pooling.
        So any Cnn14 checkpoint, e.g. the 16 kHz and 8 kHz ones, gives
        framewise scores. This is not a trained SED head: the weights were
        trained for clip tagging, and their segment scores are less sharp than
        those of the official Cnn14_DecisionLevelMax.

        Args:
            tagger: a `Cnn14` with `embedding_size=2048` and its classifier.
            **overrides: constructor arguments to change (e.g. `input_length`).

        Raises:
            CheckpointError: `tagger` is not such a Cnn14.

        Example:
        ```python
        sed16k = keras_panns.Cnn14_DecisionLevelMax.from_tagger(keras_panns.Cnn14.from_pretrained("cnn14_16k"))
        framewise = sed16k.predict(waveform_16k[None])["framewise_output"]   # (1, frames, 527), 100 frames/s
        ```
        """
        config = tagger.config
        if type(tagger) is not Cnn14 or config.get("embedding_size") != 2048 or not config.get("include_top"):
            raise CheckpointError(
                f"{cls.__name__}.from_tagger needs a Cnn14 with embedding_size 2048 and its "
                f"classifier; got {type(tagger).__name__} {tagger.name}"
            )
        if cls._head is not _Cnn14DecisionLevel._head:
            raise CheckpointError(
                f"{cls.__name__} has a head of its own that a tagger does not train; use "
                "Cnn14_DecisionLevelMax or Cnn14_DecisionLevelAvg"
            )
        keys = (
            "sample_rate",
            "window_size",
            "hop_size",
            "mel_bins",
            "fmin",
            "fmax",
            "num_classes",
            "spec_augment",
            "freq_drop_width",
            "block_dropout",
            "head_dropout",
            "input_length",
            "labels",
            "seed",
            "dtype",
        )
        model = cls(**{**{k: config[k] for k in keys}, **overrides})
        transfer_weights(tagger, model)
        model.card = tagger.card
        return model


@register_architecture
class Cnn14_DecisionLevelMax(_Cnn14DecisionLevel):  # noqa: N801 (the reference's class name)
    """PANNs Cnn14_DecisionLevelMax: Cnn14 trunk with a frame-level head (clip = max over segments).

    Args:
        sample_rate: front-end config (as Cnn14).
        window_size: front-end config (as Cnn14).
        hop_size: front-end config (as Cnn14).
        mel_bins: front-end config (as Cnn14).
        fmin: front-end config (as Cnn14).
        fmax: front-end config (as Cnn14).
        num_classes: int. Event classes (527 AudioSet classes).
        spec_augment: bool. SpecAugment during training.
        freq_drop_width: int or None. SpecAugment frequency stripe bound.
        block_dropout: float. Dropout after each conv block.
        head_dropout: float. Dropout around fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        seed: int or None. SpecAugment seed.
        name: str. Model name.
        dtype: policy of the trunk; front end and head compute in float32.

    Inputs: float32 waveform `(batch, samples)`.
    Outputs: dict with `framewise_output` `(batch, 1 + samples // hop_size, num_classes)`
        (320-ms segments repeated to 10-ms frames) and `clipwise_output` `(batch, num_classes)`.

    Example:
    ```python
    model = keras_panns.Cnn14_DecisionLevelMax.from_pretrained()
    model.predict(np.zeros((1, 320000), "float32"))["framewise_output"].shape  # (1, 1001, 527)
    ```
    """

    _clip_pooling = "max"


@register_architecture
class Cnn14_DecisionLevelAvg(_Cnn14DecisionLevel):  # noqa: N801
    """PANNs Cnn14_DecisionLevelAvg: Cnn14 trunk with a frame-level head (clip = mean over segments).

    Args:
        sample_rate: front-end config (as Cnn14).
        window_size: front-end config (as Cnn14).
        hop_size: front-end config (as Cnn14).
        mel_bins: front-end config (as Cnn14).
        fmin: front-end config (as Cnn14).
        fmax: front-end config (as Cnn14).
        num_classes: int. Event classes (527 AudioSet classes).
        spec_augment: bool. SpecAugment during training.
        freq_drop_width: int or None. SpecAugment frequency stripe bound.
        block_dropout: float. Dropout after each conv block.
        head_dropout: float. Dropout around fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        seed: int or None. SpecAugment seed.
        name: str. Model name.
        dtype: policy of the trunk; front end and head compute in float32.

    Inputs: float32 waveform `(batch, samples)`.
    Outputs: dict with `framewise_output` `(batch, 1 + samples // hop_size, num_classes)`
        (320-ms segments repeated to 10-ms frames) and `clipwise_output` `(batch, num_classes)`.

    Example:
    ```python
    model = keras_panns.Cnn14_DecisionLevelAvg.from_pretrained()
    model.predict(np.zeros((1, 320000), "float32"))["framewise_output"].shape  # (1, 1001, 527)
    ```
    """

    _clip_pooling = "avg"


@register_architecture
class Cnn14_DecisionLevelAtt(_Cnn14DecisionLevel):  # noqa: N801
    # bn_att exists in the reference's AttBlock (and its checkpoints) but is never applied.
    """PANNs Cnn14_DecisionLevelAtt: Cnn14 trunk with a frame-level head (attention pooling).

    Args:
        sample_rate: front-end config (as Cnn14).
        window_size: front-end config (as Cnn14).
        hop_size: front-end config (as Cnn14).
        mel_bins: front-end config (as Cnn14).
        fmin: front-end config (as Cnn14).
        fmax: front-end config (as Cnn14).
        num_classes: int. Event classes (527 AudioSet classes).
        spec_augment: bool. SpecAugment during training.
        freq_drop_width: int or None. SpecAugment frequency stripe bound.
        block_dropout: float. Dropout after each conv block.
        head_dropout: float. Dropout around fc1.
        input_length: int or None. Fixed number of samples, or None for any length.
        labels: list of str or None. Class names.
        seed: int or None. SpecAugment seed.
        name: str. Model name.
        dtype: policy of the trunk; front end and head compute in float32.

    Inputs: float32 waveform `(batch, samples)`.
    Outputs: dict with `framewise_output` `(batch, 1 + samples // hop_size, num_classes)`
        (320-ms segments repeated to 10-ms frames) and `clipwise_output` `(batch, num_classes)`.

    Example:
    ```python
    model = keras_panns.Cnn14_DecisionLevelAtt.from_pretrained()
    model.predict(np.zeros((1, 320000), "float32"))["framewise_output"].shape  # (1, 1001, 527)
    ```
    """

    unused_checkpoint_keys = ("att_block.bn_att.*",)
    head_layers = ("att_block",)

    def _head(self, x, num_classes):
        attention = keras.layers.Dense(num_classes, name=module_name("att_block", "att"), dtype="float32")(x)
        segmentwise = keras.layers.Dense(
            num_classes, activation="sigmoid", name=module_name("att_block", "cla"), dtype="float32"
        )(x)
        clipwise = AttentionPooling(name="attention_pooling", dtype="float32")([attention, segmentwise])
        return segmentwise, clipwise


#: What frame scores from a tagger's decision-level forward are, for whoever reports that it ran.
FROM_TAGGER_NOTE = "framewise scores from tagging weights, not a trained SED head"


def frame_scoring_model(model):
    """`model` when it scores frames; for a Cnn14 tagger, its decision-level forward.

    The one rule of every command and API that needs framewise scores (`sed`, `listen`, `index` with
    events): a SED model is used as it is, a Cnn14 tagger through `Cnn14_DecisionLevelMax.from_tagger`
    (see `FROM_TAGGER_NOTE`), and any other model is returned unchanged for the caller to refuse.

    Args:
        model: a `PANNsModel`.

    Returns:
        A model; not `model` itself exactly when it was converted.

    Raises:
        CheckpointError: a Cnn14 that `from_tagger` cannot convert (no 2048-d embedding or no classifier).

    Example:
    ```python
    sed = frame_scoring_model(keras_panns.Cnn14.from_pretrained("cnn14_16k"))
    sed.output["framewise_output"].shape  # (None, None, 527)
    ```
    """
    if "framewise_output" in model.output or not isinstance(model, Cnn14):
        return model
    return Cnn14_DecisionLevelMax.from_tagger(model)
