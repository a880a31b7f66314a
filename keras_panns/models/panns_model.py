"""Base class of every PANNs architecture: a functional Keras model whose
constructor arguments are its config, with input checks and `from_pretrained`."""

import keras
import numpy as np

from keras_panns.errors import AudioError

#: Architecture name (the PyTorch class name, e.g. "Cnn14") -> Keras class.
ARCHITECTURES = {}


def register_architecture(cls):
    """Class decorator: makes `cls` serializable and findable by its name."""
    keras.saving.register_keras_serializable(package="keras_panns")(cls)
    ARCHITECTURES[cls.__name__] = cls
    return cls


def get_architecture(name):
    """Returns the registered class for an architecture name (case-insensitive)."""
    from keras_panns.errors import UnknownModelError

    for key, cls in ARCHITECTURES.items():
        if key.lower() == str(name).lower():
            return cls
    raise UnknownModelError(
        f"Unknown PANNs architecture {name!r}. Known: {', '.join(sorted(ARCHITECTURES))}.")


def check_labels(labels, num_classes):
    """Raises if a `labels` list does not name every output class."""
    if labels is not None and len(labels) != num_classes:
        raise ValueError(f"labels has {len(labels)} names but num_classes is {num_classes}")


class PANNsModel(keras.Model):
    """A PANNs network: float32 waveform `(batch, samples)` in, dict out.

    Subclasses build their graph in `__init__` from plain keyword arguments
    and pass them to `_set_config`, so `get_config()` returns exactly the
    constructor arguments (the keras-hub convention) and `.keras` files,
    presets and zoo cards all share one config format.

    Attributes:
        sample_rate: int. The sample rate the network expects.
        min_samples: int. The shortest input the network can pool.
        card: `keras_panns.ZooCard` or None. Provenance when loaded from the zoo.
    """

    #: Checkpoint keys that official files carry but the network never uses.
    #: Port accounting accepts these silently; every other key must be used.
    unused_checkpoint_keys = ()
    #: Layers that replace the classifier when `num_classes`/`include_top` change.
    head_layers = ("fc_audioset",)

    def _set_config(self, config, min_samples):
        self._panns_config = dict(config)
        self.min_samples = int(min_samples)
        self.card = None

    # --- config -----------------------------------------------------------------

    def get_config(self):
        config = dict(self._panns_config)
        config["name"] = self.name
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def config(self):
        """The constructor arguments of this model (a copy)."""
        return dict(self._panns_config)

    @property
    def sample_rate(self):
        return int(self._panns_config.get("sample_rate", 32000))

    @property
    def labels(self):
        """Class names of the output units (AudioSet's 527 unless `labels` was given)."""
        from keras_panns.labels import audioset_labels

        labels = self._panns_config.get("labels")
        if labels:
            return list(labels)
        num_classes = self._panns_config.get("num_classes", 527)
        if num_classes == 527:
            return audioset_labels()
        return [f"class_{i}" for i in range(num_classes)]

    # --- input checks -------------------------------------------------------------

    def check_input_length(self, num_samples):
        """Raises `AudioError` if `num_samples` is too short for the network."""
        if num_samples is not None and int(num_samples) < self.min_samples:
            raise AudioError(
                f"{self.name} needs at least {self.min_samples} samples "
                f"({self.min_samples / self.sample_rate:.3f} s at {self.sample_rate} Hz) to pool its "
                f"input; got {int(num_samples)}. Pad the clip or use a longer one.")

    def call(self, inputs, training=None, mask=None):
        shape = getattr(inputs, "shape", None)
        if shape is not None and len(shape) >= 1 and isinstance(shape[-1], (int, np.integer)):
            self.check_input_length(shape[-1])
        return super().call(inputs, training=training, mask=mask)

    # --- pretrained weights -------------------------------------------------------

    @classmethod
    def from_pretrained(cls, source=None, *, cache_dir=None, force_download=False, progress=True,
                        **overrides):
        """Builds the model and loads pretrained weights.

        Args:
            source: str or path. A zoo name (`"cnn14"`, `"cnn14_16k"`, ...), the
                path of an official PANNs `.pth` file (an official file name
                selects its zoo card's config), a preset directory written by
                `keras_panns.save_preset`, or an http(s) URL of a `.pth`.
                Defaults to this architecture's default zoo entry.
            cache_dir: str. Where downloads and converted weights are cached;
                defaults to `$KERAS_PANNS_CACHE` or `~/.cache/keras_panns`.
            force_download: bool. Download again even if the file is cached.
            progress: bool. Show a progress bar while downloading.
            **overrides: constructor arguments to change, e.g. `num_classes=10`
                (a new, untrained head) or `classifier_activation=None`.

        Returns:
            The model, with `model.card` set when the source is in the zoo.

        Example:
        ```python
        model = keras_panns.Cnn14.from_pretrained()              # zoo "cnn14"
        model = keras_panns.Cnn14.from_pretrained("Cnn14_mAP=0.431.pth")
        tagger = keras_panns.Cnn6.from_pretrained("cnn6", num_classes=10)
        ```
        """
        from keras_panns.hub.pretrained import load_pretrained

        return load_pretrained(cls, source, cache_dir=cache_dir, force_download=force_download,
                               progress=progress, overrides=overrides)
