"""The PANNs architectures in Keras' registry: how the hub finds a class by its name.

Each architecture registers itself with Keras when `keras_panns.models` is
imported (`@register_architecture`, i.e.
`keras.saving.register_keras_serializable(package="keras_panns")`). The hub
reads that registry back, as keras-hub's preset loaders do with
`keras.saving.get_registered_object`, so it builds models from zoo cards and
presets without importing the models, which sit above it.

Example:
```python
import keras_panns.models                       # the architectures register themselves
from keras_panns.hub import registry

registry.get_architecture("cnn14")              # <class 'keras_panns.models.cnn.cnn.Cnn14'>
sorted(registry.ARCHITECTURES)[:2]              # ['Cnn10', 'Cnn14']
```
"""

from __future__ import annotations

import collections.abc

import keras

from keras_panns.errors import UnknownModelError

PACKAGE = "keras_panns"

# The class names registered through `register_architecture`; the classes themselves are read from Keras.
_NAMES = set()


def register_architecture(cls):
    """Class decorator: registers `cls` with Keras as `keras_panns>ClassName`, as an architecture.

    Args:
        cls: a `PANNsModel` subclass (its name is the PyTorch class name, e.g. `Cnn14`).

    Returns:
        `cls`, registered.

    Example:
    ```python
    @register_architecture
    class Cnn14(LogMelTagger): ...
    ```
    """
    registered = keras.saving.register_keras_serializable(package=PACKAGE)(cls)
    _NAMES.add(cls.__name__)
    return registered


def architectures():
    """`{name: class}` of every registered architecture, read from Keras' registry.

    Returns:
        A new dict, sorted by name.

    Example:
    ```python
    architectures()["Cnn14"]  # keras_panns.Cnn14
    ```
    """
    found = {}
    for name in sorted(_NAMES):
        cls = keras.saving.get_registered_object(f"{PACKAGE}>{name}")
        if cls is not None:
            found[name] = cls
    return found


def is_architecture(cls):
    """Whether `cls` is a registered architecture or a subclass of one (e.g. a user's `Cnn14` variant).

    Args:
        cls: any object.

    Returns:
        bool.

    Example:
    ```python
    is_architecture(keras_panns.Cnn14)  # True
    is_architecture(keras.Model)        # False
    ```
    """
    return isinstance(cls, type) and any(issubclass(cls, arch) for arch in architectures().values())


def get_architecture(name: str) -> type:
    """The registered class of an architecture name, case-insensitive.

    Args:
        name: str, e.g. `"Cnn14"` or `"cnn14"`.

    Returns:
        The architecture's class.

    Raises:
        UnknownModelError: no architecture has that name (the message lists the known ones).

    Example:
    ```python
    get_architecture("cnn14") is keras_panns.Cnn14  # True
    ```
    """
    known = architectures()
    for key, cls in known.items():
        if key.lower() == str(name).lower():
            return cls
    if not known:
        raise UnknownModelError(
            f"Unknown PANNs architecture {name!r}: none is registered yet (import keras_panns.models, "
            "whose architectures register themselves, or reach them through keras_panns)."
        )
    raise UnknownModelError(f"Unknown PANNs architecture {name!r}. Known: {', '.join(known)}.")


class _ArchitectureView(collections.abc.Mapping):
    """Read-only `{name: class}` view of `architectures()`, current at each access."""

    def __getitem__(self, name):
        return architectures()[name]

    def __iter__(self):
        return iter(architectures())

    def __len__(self):
        return len(architectures())

    def __repr__(self):
        return f"ARCHITECTURES({sorted(self)})"


#: Architecture name (the PyTorch class name, e.g. "Cnn14") -> Keras class.
ARCHITECTURES = _ArchitectureView()
