"""Where `PANNsModel`'s preset API finds its implementation (a leaf module, so every layer may import it).

The models declare `from_pretrained`, `from_preset`, `save_to_preset` and
`presets`; `keras_panns.hub.loaders`, a layer above them, implements them and
registers itself here when imported. Until then the package's own
`__init__` registers a stand-in that imports the hub on first use, so
`from keras_panns.models import Cnn14; Cnn14.from_pretrained()` works as
well as `keras_panns.Cnn14.from_pretrained()`, and `import keras_panns` stays
free of Keras.
"""

_BACKEND = None


def set_backend(backend):
    """Registers the object with `load(cls, source, **kwargs)`, `build(cls, source, overrides)`,
    `save(model, directory)` and `presets(cls)`."""
    global _BACKEND
    _BACKEND = backend


def get_backend():
    if _BACKEND is None:
        from keras_panns.errors import PANNsError

        raise PANNsError("no preset backend is registered; import keras_panns.hub.loaders")
    return _BACKEND
