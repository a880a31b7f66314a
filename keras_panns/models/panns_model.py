"""Base class of every PANNs architecture: a functional Keras model whose
constructor arguments are its config, with input checks and the preset API
(`from_pretrained` / `from_preset`, `save_to_preset`, `presets`).

Architectures live in one registry, Keras' own (`keras_panns.hub.registry`):
each family's classes are decorated with `register_architecture`, and
`get_architecture` / `ARCHITECTURES` read the registry back.

The preset API calls the hub's loaders directly (`keras_panns.hub.loaders`),
as keras-hub's `Backbone.from_preset` calls `preset_utils`: the hub sits
below the models and finds their classes through that registry.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import keras
import numpy as np

from keras_panns.audio import check_length
from keras_panns.hub import loaders
from keras_panns.hub.presets import save_preset
from keras_panns.labels import audioset_labels


class classproperty:  # noqa: N801 (reads like the builtin `property`)
    """A read-only property of the class (keras-hub's `Backbone.presets` is one)."""

    def __init__(self, getter):
        self.getter = getter
        self.__doc__ = getter.__doc__

    def __get__(self, instance, owner):
        return self.getter(owner)


class PANNsModel(keras.Model):
    """A PANNs network: float32 waveform `(batch, samples)` in, dict out.

    Each family's constructor builds its graph from plain keyword arguments
    and ends with `_build_model`, so `get_config()` returns exactly the
    constructor arguments (the keras-hub convention) and `.keras` files,
    presets and zoo cards all share one config format.

    Attributes:
        sample_rate: int. The sample rate the network expects.
        min_samples: int. The shortest input the network can pool.
        card: `keras_panns.zoo.ZooCard` or None. Provenance when loaded from the zoo.

    Example:
    ```python
    model = keras_panns.Cnn6(num_classes=10)
    same = keras_panns.Cnn6.from_config(model.get_config())
    sorted(keras_panns.Cnn14.presets)[:2]   # ['cnn14', 'cnn14_16k']
    ```
    """

    #: Checkpoint keys that official files carry but the network never uses.
    #: Port accounting accepts these silently; every other key must be used.
    unused_checkpoint_keys = ()
    #: Layers that replace the classifier when `num_classes`/`include_top` change.
    head_layers = ("fc_audioset",)

    def _build_model(self, waveform, outputs, *, config, min_samples, name=None, **kwargs):
        """Finishes a constructor: the functional graph `waveform -> outputs`, its config and input bound."""
        super().__init__(inputs=waveform, outputs=outputs, name=name or type(self).__name__.lower(), **kwargs)
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
        labels = self._panns_config.get("labels")
        if labels:
            return list(labels)
        num_classes = self._panns_config.get("num_classes", 527)
        if num_classes == 527:
            return audioset_labels()
        return [f"class_{i}" for i in range(num_classes)]

    # --- input checks -------------------------------------------------------------

    def check_input_length(self, num_samples, source=None):
        """Raises `AudioError` if `num_samples` is too short for the network.

        Args:
            num_samples: int. Length of the input in samples.
            source: str or None. The file (or array name) to name in the error.

        Raises:
            AudioError: shorter than `min_samples` (the message gives the minimum in samples and seconds).

        Example:
        ```python
        keras_panns.Cnn14().check_input_length(8000, "blip.wav")  # AudioError: blip.wav: Cnn14 needs ...
        ```
        """
        check_length(num_samples, self.min_samples, self.sample_rate, self.name, source)

    def _check_array_input(self, x):
        # predict/predict_on_batch trace once for a relaxed (None) length and then never see the real
        # one inside `call`, so arrays are checked here, before Keras dispatches them.
        shape = getattr(x, "shape", None)
        if shape is not None and len(shape) >= 1 and isinstance(shape[-1], (int, np.integer)):
            self.check_input_length(shape[-1])

    def predict_on_batch(self, x):
        self._check_array_input(x)
        return super().predict_on_batch(x)

    def predict(self, x, *args, **kwargs):
        self._check_array_input(x)
        return super().predict(x, *args, **kwargs)

    def call(self, inputs, training=None, mask=None):
        shape = getattr(inputs, "shape", None)
        if shape is not None and len(shape) >= 1 and isinstance(shape[-1], (int, np.integer)):
            self.check_input_length(shape[-1])
        return super().call(inputs, training=training, mask=mask)

    # --- presets ------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike | None = None,
        *,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        progress: bool = True,
        **overrides: Any,
    ) -> PANNsModel:
        """Builds the model and loads pretrained weights.

        Args:
            source: str or path. A zoo name (`"cnn14"`, `"cnn14_16k"`, ...), the
                path of an official PANNs `.pth` file (an official file name
                selects its zoo card's config), a preset directory written by
                `save_to_preset`, a `.keras` file, or an http(s) URL of a
                `.pth`. Defaults to this architecture's default zoo entry.
            cache_dir: str. Where downloads and converted weights are cached;
                defaults to `$KERAS_PANNS_CACHE` or `~/.cache/keras_panns`.
            force_download: bool. Download again even if the file is cached.
            progress: bool. Show a progress bar while downloading.
            **overrides: constructor arguments to change, e.g. `num_classes=10`
                (a new, untrained head) or `classifier_activation=None`.

        Returns:
            The model, with `model.card` set when the source is in the zoo.

        Raises:
            UnknownModelError: the source is unknown, or holds an architecture
                that is not `cls` (nor a subclass of it).
            CheckpointError, DownloadError: the weights cannot be read or fetched.

        Example:
        ```python
        model = keras_panns.Cnn14.from_pretrained()              # zoo "cnn14"
        model = keras_panns.Cnn14.from_pretrained("Cnn14_mAP=0.431.pth")
        tagger = keras_panns.Cnn6.from_pretrained("cnn6", num_classes=10)
        ```
        """
        return loaders.load(
            cls, source, cache_dir=cache_dir, force_download=force_download, progress=progress, overrides=overrides
        )

    @classmethod
    def from_preset(cls, preset: str | os.PathLike, load_weights: bool = True, **kwargs: Any) -> PANNsModel:
        """keras-hub's name for `from_pretrained`; `load_weights=False` builds the preset's config untrained.

        Args:
            preset: str. Any `from_pretrained` source.
            load_weights: bool. False: the source's architecture and config, randomly initialised.
            **kwargs: constructor overrides (and `from_pretrained`'s options when loading weights).

        Returns:
            The model.

        Raises:
            UnknownModelError: the source is unknown or holds another architecture.

        Example:
        ```python
        model = keras_panns.Cnn14.from_preset("cnn14_16k")
        untrained = keras_panns.Cnn14.from_preset("cnn14_16k", load_weights=False)  # no download
        ```
        """
        if not load_weights:
            return loaders.build_untrained(cls, preset, overrides=kwargs)
        return cls.from_pretrained(preset, **kwargs)

    def save_to_preset(self, preset_dir: str | os.PathLike) -> pathlib.Path:
        """Writes this model as a preset directory in keras-hub's layout.

        The directory holds `config.json`, `model.weights.h5`, `metadata.json`
        and a `README.md` model card, so `from_pretrained(preset_dir)` reads it
        and `keras_hub.upload_preset` could publish it unchanged.

        Args:
            preset_dir: str or path-like. Written atomically (replaced if it exists).

        Returns:
            `pathlib.Path` of the directory.

        Example:
        ```python
        model.save_to_preset("my_cnn14")
        same = keras_panns.Cnn14.from_preset("my_cnn14")
        ```
        """
        return save_preset(self, preset_dir)

    @classproperty
    def presets(cls):  # noqa: N805 (a class property)
        """The zoo cards this class can load, by name (`{name: ZooCard}`).

        Returns:
            `{zoo name: ZooCard}`.

        Example:
        ```python
        sorted(keras_panns.Cnn14.presets)  # ['cnn14', 'cnn14_16k', 'cnn14_8k', 'cnn14_emb128', ...]
        ```
        """
        return loaders.presets(cls)
