"""Weights from one Keras model into another with the same layer names: a new head, a new config, SED from a tagger."""

from keras_panns.errors import CheckpointError


def transfer_weights(source_model, target_model, skip_prefixes=()):
    """Copies weights layer by layer between models whose layers share names and shapes.

    Layers whose names start with one of `skip_prefixes` (a replaced head) keep their initial weights.

    Args:
        source_model: the Keras model whose weights are copied.
        target_model: the Keras model that receives them, in place.
        skip_prefixes: layer-name prefixes to leave untouched, e.g. a model's `head_layers`.

    Raises:
        CheckpointError: a weighted layer of `target_model` has no equal-shaped twin in `source_model`.

    Example:
    ```python
    tagger = keras_panns.Cnn14.from_pretrained()
    ten_classes = keras_panns.Cnn14(num_classes=10)
    transfer_weights(tagger, ten_classes, skip_prefixes=keras_panns.Cnn14.head_layers)
    ```
    """
    source_layers = {layer.name: layer for layer in source_model.layers}
    for layer in target_model.layers:
        if not layer.weights or any(layer.name.startswith(p) for p in skip_prefixes):
            continue
        other = source_layers.get(layer.name)
        values = other.get_weights() if other is not None else None
        if values is None or [v.shape for v in values] != [tuple(w.shape) for w in layer.weights]:
            raise CheckpointError(f"pretrained weights do not fit layer {layer.name} of the requested config")
        layer.set_weights(values)
