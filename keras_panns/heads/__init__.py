"""Classifier heads on an index's stored embeddings: your own classes over a whole archive, no audio decoded.

`training` builds and fits a head (linear, or one hidden layer) on labelled windows' embeddings, with the
index's unlabelled windows streamed part by part as weak negatives; `training.cross_validate_head` gives
held-out per-class AP and ROC-AUC (scikit-learn).
"""
