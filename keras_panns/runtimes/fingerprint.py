"""The one fingerprint of a model's weights, and the cache key derived from it.

`weights_sha256` is what an archive index records (`manifest.json`'s
`weights_sha256`), what `search --like` checks a model against, and the core
of `cache_key`, under which the runtimes keep their compiled files and `auto`
its decisions. `cache_key` adds the model's configuration, since a compiled
file also holds what the config decides (the front end's constants).

Example:
```python
weights_sha256(model)[:12]  # the same in the index's manifest and here
cache_key(model)            # '3f1c...-9a0b...': the compiled files' folder
```
"""

import hashlib
import json


def weights_sha256(model):
    """sha256 over every weight's path, shape and bytes, in order.

    Args:
        model: a Keras model.

    Returns:
        str, 64 hex digits.

    Example:
    ```python
    weights_sha256(model) == json.load(open("archive.index/manifest.json"))["weights_sha256"]
    ```
    """
    import keras
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(str(getattr(weight, "path", weight.name)).encode())
        digest.update(str(value.shape).encode())
        digest.update(value.data)
    return digest.hexdigest()


def cache_key(model, weights_digest=None):
    """The key of a model's compiled files and runtime decisions: its weights' sha256 and config's digest.

    Args:
        model: a Keras model.
        weights_digest: str or None. `weights_sha256(model)`, when already computed.

    Returns:
        str.

    Example:
    ```python
    cache_key(model)  # changes whenever any weight or any config value does
    ```
    """
    config = hashlib.blake2b(json.dumps(model.get_config(), sort_keys=True, default=str).encode(), digest_size=8)
    return f"{(weights_digest or weights_sha256(model))[:32]}-{config.hexdigest()}"


def model_fingerprint(model, precision="float32"):
    """What an operating-points file is checked against: the model's class, weights, classes and precision.

    Args:
        model: a keras_panns model, or a compiled one (`runtimes.compiled.CompiledModel`).
        precision: str. The precision its scores come at (`"auto"` counts as float32, auto's reference).

    Returns:
        dict (see `keras_panns.decisions.fingerprint`).

    Example:
    ```python
    points.check_model(model_fingerprint(model))
    ```
    """
    from keras_panns.decisions import fingerprint

    digest = getattr(model, "weights_sha256", None) or weights_sha256(model)
    return fingerprint(model, digest, precision="float32" if precision == "auto" else precision)


def event_thresholds_for(model, operating_points, high, low, precision="float32"):
    """`(high, low)` for `model`'s event detector: per class from `operating_points`, checked to be `model`'s.

    Args:
        model: a keras_panns model (or a compiled one).
        operating_points: `keras_panns.decisions.OperatingPoints` or None (then `high` and `low` as given).
        high: float. The high of classes without an event point.
        low: float. The low of classes without an event point.
        precision: str. The precision the model's scores come at.

    Returns:
        `(high, low)`: floats, or float32 arrays `(classes,)` with points.

    Raises:
        OperatingPointsError: the points were chosen for another model.

    Example:
    ```python
    high, low = event_thresholds_for(sed, OperatingPoints.load("points.json"), 0.5, 0.2)
    ```
    """
    if operating_points is None:
        return high, low
    operating_points.check_model(model_fingerprint(model, precision))
    return operating_points.event_thresholds(model.labels, high, low)
