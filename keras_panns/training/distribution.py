"""Distribution setup for training: `tf.distribute` strategies, `TF_CONFIG` and the replicas' shared state.

`keras-panns train` runs the same command on every host; `TF_CONFIG` (the
standard TensorFlow cluster description) tells each process its rank. The
chief (rank 0) writes checkpoints, logs and the final model.
"""

import json
import os

import keras

from keras_panns.errors import TrainingError
from keras_panns.training import keras_compat

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker")


def tf_config():
    """`(cluster, task)` of the `TF_CONFIG` environment variable (empty without it)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    except ValueError as exc:
        raise TrainingError(f"TF_CONFIG is not valid JSON ({exc})") from exc
    return config.get("cluster", {}), config.get("task", {})


def num_workers():
    """Training processes in the `TF_CONFIG` cluster (workers and chief; 1 without a cluster)."""
    cluster, _ = tf_config()
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def worker_index():
    """This process's rank among training workers (a chief is rank 0), -1 for evaluators and the like."""
    cluster, task = tf_config()
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind == "chief":
        return 0
    if kind == "worker":
        return index + (1 if "chief" in cluster else 0)
    return -1


def is_chief():
    return worker_index() == 0


def make_strategy(name="auto"):
    """A `tf.distribute` strategy by name.

    `auto`: MultiWorkerMirroredStrategy when `TF_CONFIG` lists several workers,
    MirroredStrategy with several local GPUs, else the default strategy.

    Example:
    ```python
    strategy = make_strategy("auto")
    with strategy.scope():
        model = keras_panns.Cnn14(num_classes=10)
    ```
    """
    import tensorflow as tf

    if name == "auto":
        if num_workers() > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker":
        return keras_compat.scalar_safe_reduce(tf.distribute.MultiWorkerMirroredStrategy())
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "default":
        return tf.distribute.get_strategy()
    raise TrainingError(f"unknown strategy {name!r} ({', '.join(STRATEGIES)})")


def all_layers(model):
    """Every layer inside `model`, nested models' layers included, depth first."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def synchronize_batch_norm(model):
    """Batch statistics over the global batch on every replica.

    Replicas then keep identical moving statistics, and the run equals one
    device with the whole batch (PANNs trained on one GPU).
    """
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def prepare_fit(model, fit_model, strategy, batch_size, zeros_batch):
    """What `fit` needs under `strategy` before its first step.

    Args:
        model: the network (its BatchNormalization layers are synchronised).
        fit_model: what `fit` runs (`model`, or its feature-mixup twin), compiled.
        strategy: the `tf.distribute` strategy.
        batch_size: int. The global batch size.
        zeros_batch: callable `per_replica_batch_size -> (inputs, targets)` of zeros.
    """
    if strategy.num_replicas_in_sync > 1:
        synchronize_batch_norm(model)
    if num_workers() > 1:
        per_replica = max(1, batch_size // strategy.num_replicas_in_sync)
        keras_compat.build_train_state_from_shapes(fit_model, strategy, zeros_batch(per_replica))
