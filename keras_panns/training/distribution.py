"""Distribution setup for training: `tf.distribute` strategies (TensorFlow backend),
`keras.distribution.DataParallel` (JAX backend), ranks and the replicas' shared state.

`keras-panns train` runs the same command on every host. On TensorFlow,
`TF_CONFIG` (the standard cluster description) tells each process its rank;
on JAX, Keras' own variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
`KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID` do.
The chief (rank 0) writes checkpoints, logs and the final model.
"""

import contextlib
import json
import os

import keras

from keras_panns.errors import TrainingError
from keras_panns.training import keras_compat

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "data_parallel")
TF_ONLY = ("one_device", "mirrored")
JAX_PROCESS_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


def _jax():
    return keras.backend.backend() == "jax"


class JaxDataParallel:
    """Data parallelism on the JAX backend, with the surface of a `tf.distribute` strategy that training uses.

    Wraps `keras.distribution.DataParallel` over every JAX device (of every
    process). One jitted SPMD program runs the global batch: gradients,
    losses and batch-norm statistics are reduced over all devices by XLA, so
    the replicas stay identical and the run equals one device with the whole
    batch. Each process feeds its own slice of the global batch
    (`per_process_batch`), drawn with its own seed, as on TensorFlow.

    Attributes:
        distribution: the `keras.distribution.DataParallel`.
        num_replicas_in_sync: int. Devices in the mesh.
        num_processes: int.

    Example:
    ```python
    strategy = JaxDataParallel()          # KERAS_BACKEND=jax, all local devices
    with strategy.scope():
        model = keras_panns.Cnn6(num_classes=10)
        model.fit(dataset, ...)
    ```
    """

    def __init__(self, devices=None):
        import jax

        devices = devices or jax.devices()
        self.distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        self.num_replicas_in_sync = len(devices)
        self.num_processes = jax.process_count()

    def scope(self):
        """Makes the distribution current: variables made and `fit` run inside it are distributed."""
        return self.distribution.scope()


class _NoDistribution:
    """One JAX device: nothing to distribute."""

    num_replicas_in_sync = 1
    num_processes = 1

    def scope(self):
        return contextlib.nullcontext()


def initialize_jax_processes():
    """Joins a multi-process JAX cluster when Keras' distribution variables describe one; returns its size.

    Must run before the first JAX computation. A single process (no
    variables) does nothing.
    """
    import jax

    if not os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        return 1
    missing = [name for name in JAX_PROCESS_VARIABLES if not os.environ.get(name)]
    if missing:
        raise TrainingError(
            f"a multi-process JAX run needs {', '.join(JAX_PROCESS_VARIABLES)}; missing: {', '.join(missing)}"
        )
    if jax.process_count() == 1 and int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"]) > 1:
        keras.distribution.initialize()
    return jax.process_count()


def tf_config():
    """`(cluster, task)` of the `TF_CONFIG` environment variable (empty without it)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    except ValueError as exc:
        raise TrainingError(f"TF_CONFIG is not valid JSON ({exc})") from exc
    return config.get("cluster", {}), config.get("task", {})


def num_workers():
    """Training processes: the JAX cluster's, or the `TF_CONFIG` cluster's workers and chief (1 without one)."""
    if _jax():
        return int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES") or 1)
    cluster, _ = tf_config()
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def worker_index():
    """This process's rank among training workers (a chief is rank 0), -1 for evaluators and the like."""
    if _jax():
        return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID") or 0)
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
    """A `tf.distribute` strategy (TensorFlow) or a `JaxDataParallel` (JAX) by name.

    TensorFlow, `auto`: MultiWorkerMirroredStrategy when `TF_CONFIG` lists
    several workers, MirroredStrategy with several local GPUs, else the
    default strategy. JAX, `auto`, `data_parallel` or `multi_worker`:
    `JaxDataParallel` over every device when there are several (processes
    joined first, see `initialize_jax_processes`), else one device.

    Example:
    ```python
    strategy = make_strategy("auto")
    with strategy.scope():
        model = keras_panns.Cnn14(num_classes=10)
    ```
    """
    if name not in STRATEGIES:
        raise TrainingError(f"unknown strategy {name!r} ({', '.join(STRATEGIES)})")
    if _jax():
        return _jax_strategy(name)
    if name == "data_parallel":
        raise TrainingError(
            "--strategy data_parallel is keras.distribution's, for the JAX backend "
            "(KERAS_BACKEND=jax); on TensorFlow use auto, mirrored or multi_worker"
        )
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
    return tf.distribute.get_strategy()


def _jax_strategy(name):
    import jax

    if name in TF_ONLY:
        raise TrainingError(
            f"--strategy {name} is tf.distribute's, for the TensorFlow backend; on JAX use auto "
            "or data_parallel (keras.distribution.DataParallel)"
        )
    if name == "default":
        return _NoDistribution()
    initialize_jax_processes()
    if len(jax.devices()) == 1 and name == "auto":
        return _NoDistribution()
    return JaxDataParallel()


def fit_scope(strategy):
    """Where `fit` must run: inside the JAX distribution (it shards each batch), anywhere on TensorFlow."""
    return strategy.scope() if _jax() else contextlib.nullcontext()


def per_process_batch(strategy, batch_size):
    """The slice of the global batch this process feeds (the whole batch but on multi-process JAX)."""
    processes = getattr(strategy, "num_processes", 1)
    if batch_size % max(1, strategy.num_replicas_in_sync):
        raise TrainingError(
            f"the batch size {batch_size} must be a multiple of the {strategy.num_replicas_in_sync} "
            "devices it is split across"
        )
    return batch_size // processes


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
    if _jax():
        return  # one SPMD program: XLA reduces batch statistics over the global batch by itself
    if strategy.num_replicas_in_sync > 1:
        synchronize_batch_norm(model)
    if num_workers() > 1:
        per_replica = max(1, batch_size // strategy.num_replicas_in_sync)
        keras_compat.build_train_state_from_shapes(fit_model, strategy, zeros_batch(per_replica))
