"""The HEAR 2021 API (Turian et al., "HEAR: Holistic Evaluation of Audio Representations") for PANNs.

`load_model`, `get_scene_embeddings` and `get_timestamp_embeddings` with the
attributes the evaluation kit reads (`sample_rate`, `scene_embedding_size`,
`timestamp_embedding_size`). The model is a `tf.Module`, the type the kit
accepts for TensorFlow submissions; inputs and outputs are float32 tensors.

- Scene embedding: the network's clip embedding (fc1, 2048-d for Cnn14).
- Timestamp embeddings: the feature map before the global pooling, averaged
  over frequency: one 2048-d vector per segment of 32 frames (320 ms for
  Cnn14), time-stamped at the segment's centre in milliseconds. These are
  the vectors the decision-level SED models classify.

Example:
```python
from keras_panns import hear
model = hear.load_model()                                  # zoo "cnn14", 32 kHz
scene = hear.get_scene_embeddings(audio, model)            # (n_sounds, 2048)
frames, timestamps = hear.get_timestamp_embeddings(audio, model)   # (n, T, 2048), (n, T) ms
```
"""

import keras
import numpy as np
import tensorflow as tf

from keras_panns.errors import AudioError
from keras_panns.hub import loaders
from keras_panns.models import PANNsModel
from keras_panns.models.log_mel_tagger import LogMelTagger
from keras_panns.runtimes.keras_runner import KerasRunner


class HearModel(tf.Module):
    """A PANNs log-mel tagger prepared for the HEAR API.

    Args:
        model: a log-mel `PANNsModel` (Cnn*, ResNet*, MobileNet*), with its weights.

    Raises:
        TypeError: a model without the log-mel trunk's frame axis (waveform and SED models).

    Attributes:
        model: the Keras model.
        sample_rate: int.
        scene_embedding_size: int.
        timestamp_embedding_size: int.
        timestamp_hop_ms: float. Spacing of the timestamp embeddings.

    Example:
    ```python
    hear_model = HearModel(keras_panns.Cnn14.from_pretrained())
    hear_model.scene_embedding_size  # 2048
    ```
    """

    def __init__(self, model):
        super().__init__(name="panns_hear")
        if not isinstance(model, LogMelTagger) or "frequency_mean" not in [layer.name for layer in model.layers]:
            raise TypeError(f"HEAR embeddings need a log-mel tagger (Cnn*, ResNet*, MobileNet*); got {model.name}")
        self.model = model
        self.sample_rate = model.sample_rate
        pooled = model.get_layer("frequency_mean").output
        self._frames = keras.Model(model.input, {"frames": pooled}, name=f"{model.name}_timestamps")
        # HEAR scores embeddings, so they stay Keras float32; XLA-compiled, not eager (oneDNN would reorder
        # every filter on every call, `keras_panns.runtimes.keras_runner`).
        self._run = KerasRunner(model)
        self._run_frames = KerasRunner(self._frames)
        self.scene_embedding_size = int(model.output["embedding"].shape[-1])
        self.timestamp_embedding_size = int(pooled.shape[-1])
        self._stride = model.time_stride
        self._hop = model.config["hop_size"]
        self.timestamp_hop_ms = 1000.0 * self._stride * self._hop / self.sample_rate

    def _check(self, audio):
        audio = tf.convert_to_tensor(audio, tf.float32)
        if audio.shape.rank != 2:
            raise AudioError(f"HEAR audio must be (n_sounds, n_samples), got shape {audio.shape}")
        self.model.check_input_length(int(audio.shape[1]))
        return audio


def load_model(model_file_path="", **overrides):
    """A `HearModel` for a checkpoint: any `from_pretrained` source; empty means the zoo's "cnn14".

    Args:
        model_file_path: str. A zoo name, checkpoint, preset or `.keras` file (HEAR passes a path).
        **overrides: constructor arguments to change, as `from_pretrained`.

    Returns:
        `HearModel`.

    Example:
    ```python
    model = load_model("cnn14_16k")
    ```
    """
    model = loaders.load(PANNsModel, model_file_path or "cnn14", overrides=overrides)
    return HearModel(model)


def get_scene_embeddings(audio, model):
    """`(n_sounds, scene_embedding_size)` float32: one embedding per sound, from the whole clip.

    Args:
        audio: float32 tensor `(n_sounds, samples)` at `model.sample_rate`, in [-1, 1].
        model: `HearModel`.

    Returns:
        `tf.Tensor`.

    Raises:
        AudioError: not 2-D, or shorter than the model's shortest input.

    Example:
    ```python
    get_scene_embeddings(tf.zeros((3, 32000)), load_model()).shape  # (3, 2048)
    ```
    """
    audio = model._check(audio)
    return tf.convert_to_tensor(model._run(audio.numpy())["embedding"], tf.float32)


def get_timestamp_embeddings(audio, model):
    """`(embeddings (n_sounds, n_timestamps, size), timestamps (n_sounds, n_timestamps) in ms)`, centred.

    Args:
        audio: float32 tensor `(n_sounds, samples)` at `model.sample_rate`, in [-1, 1].
        model: `HearModel`.

    Returns:
        `(tf.Tensor, tf.Tensor)`: the embeddings and each one's centre time in milliseconds.

    Raises:
        AudioError: not 2-D, or shorter than the model's shortest input.

    Example:
    ```python
    embeddings, timestamps = get_timestamp_embeddings(tf.zeros((1, 32000)), load_model())
    ```
    """
    audio = model._check(audio)
    embeddings = tf.convert_to_tensor(model._run_frames(audio.numpy())["frames"], tf.float32)
    count = int(embeddings.shape[1])
    centres = (np.arange(count) * model._stride + model._stride / 2) * model._hop * 1000.0 / model.sample_rate
    timestamps = tf.tile(tf.constant(centres[None], tf.float32), [int(audio.shape[0]), 1])
    return embeddings, timestamps
