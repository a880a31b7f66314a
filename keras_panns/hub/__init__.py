"""Pretrained weights: zoo cards (`zoo`), the download cache (`download`), preset
directories (`presets`), the architectures in Keras' registry (`registry`) and the
loaders behind `from_pretrained` (`loaders`).

The hub sits below the models, as keras-hub's `preset_utils` sits below its
backbones: `PANNsModel.from_pretrained` calls `loaders.load`, and the loaders
find the architecture a card or preset names through `registry` (Keras' own
registry), never by importing the models. This package file imports nothing,
so reading zoo cards does not start a Keras backend.
"""
