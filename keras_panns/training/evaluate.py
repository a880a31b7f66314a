"""Evaluating on packed shards: predictions, AudioSet metrics, a per-class report, a `fit` callback."""

import os
import sys

import keras
import numpy as np

from keras_panns.data import make_dataset
from keras_panns.training.metrics import audioset_metrics


def predict_dataset(model, directory, batch_size=16, output="clipwise_output"):
    """`(targets, scores)` over every clip of a packed directory, in order."""
    targets, scores = [], []
    for waveform, target in make_dataset(directory, mode="eval", batch_size=batch_size):
        scores.append(np.asarray(model.predict_on_batch(waveform)[output], np.float32))
        targets.append(target.numpy())
    return np.concatenate(targets), np.concatenate(scores)


def evaluate(model, directory, *, batch_size=16, report=None):
    """AudioSet metrics of `model` on packed shards; writes a per-class CSV to `report` if given.

    Example:
    ```python
    metrics = evaluate(keras_panns.Cnn14.from_pretrained(), "packed/eval", report="per_class.csv")
    print(metrics.summary())
    ```
    """
    targets, scores = predict_dataset(model, directory, batch_size)
    metrics = audioset_metrics(targets, scores)
    if report:
        metrics.to_csv(report, model.labels)
    return metrics


class EvaluationCallback(keras.callbacks.Callback):
    """Adds `val_mAP`, `val_mAUC` and `val_d_prime` to the logs after every epoch (exact, not binned).

    Args:
        directory: str. Packed evaluation shards.
        batch_size: int.
        report_dir: str or None. Where to write `per_class_epoch<N>.csv`.
        model: the model to evaluate, when `fit` trains another one that shares
            its layers (the feature-mixup twin); default: the model being fit.

    Example:
    ```python
    model.fit(train, epochs=10, callbacks=[EvaluationCallback("packed/eval", report_dir="reports")])
    ```
    """

    def __init__(self, directory, batch_size=16, report_dir=None, model=None):
        super().__init__()
        self.directory, self.batch_size, self.report_dir = directory, batch_size, report_dir
        self._evaluated = model

    def on_epoch_end(self, epoch, logs=None):
        model = self._evaluated or self.model
        targets, scores = predict_dataset(model, self.directory, self.batch_size)
        metrics = audioset_metrics(targets, scores)
        if logs is not None:
            logs.update(val_mAP=metrics.mAP, val_mAUC=metrics.mAUC, val_d_prime=metrics.d_prime)
        if self.report_dir:
            os.makedirs(self.report_dir, exist_ok=True)
            metrics.to_csv(os.path.join(self.report_dir, f"per_class_epoch{epoch + 1}.csv"), model.labels)
        print(f"\nepoch {epoch + 1}: {metrics.summary()}", file=sys.stderr)
