"""Pretrained weights: the zoo registry, the download cache and `from_pretrained`."""
