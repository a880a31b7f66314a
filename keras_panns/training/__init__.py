"""Training, evaluation and fine-tuning of PANNs models with `model.fit`."""

from keras_panns.errors import TrainingError
from keras_panns.training.evaluate import EvaluationCallback, evaluate
from keras_panns.training.metrics import AudioSetMetrics, audioset_metrics
from keras_panns.training.mixup import PairMixup, with_feature_mixup
from keras_panns.training.trainer import TrainConfig, TrainingSummary, train

__all__ = [
    "AudioSetMetrics",
    "EvaluationCallback",
    "PairMixup",
    "TrainConfig",
    "TrainingError",
    "TrainingSummary",
    "audioset_metrics",
    "evaluate",
    "train",
    "with_feature_mixup",
]
