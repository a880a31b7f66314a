"""Pretrained weights: zoo cards (`zoo`), the download cache (`download`), preset
directories (`presets`) and the loaders behind `from_pretrained` (`loaders`).

`keras_panns.hub.loaders` registers itself as the implementation of
`PANNsModel`'s preset API (`keras_panns.preset_backend`); the models never
import the hub, which sits above them. This package file imports nothing, so
reading zoo cards does not start a Keras backend.
"""
