"""Pretrained weights: zoo cards (`zoo`), the download cache (`download`), preset
directories (`presets`) and the loaders behind `from_pretrained` (`loaders`).

`keras_panns.hub.loaders` plugs itself into `PANNsModel`'s preset API when it
is imported (`import keras_panns` does that before it hands out a model
class); the models never import the hub, which sits above them. This package
file imports nothing, so reading zoo cards does not start a Keras backend.
"""
