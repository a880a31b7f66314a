"""Training PANNs models with `model.fit` on packed shards, the PANNs recipe by default.

Recipe (Kong et al. 2020): Adam, learning rate 1e-3, amsgrad, batch 32,
balanced sampling, mixup alpha 1.0, SpecAugment (in the models), binary
cross-entropy on `clipwise_output`. Every part is an argument.
"""

import dataclasses
import inspect
import json
import math
import os
import sys

import numpy as np

from keras_panns.errors import PANNsError, TrainingError
from keras_panns.training.checkpoints import StepCheckpoint, restore


def make_strategy(name="auto"):
    """A `tf.distribute` strategy by name.

    `auto`: MultiWorkerMirroredStrategy when `TF_CONFIG` lists several workers,
    MirroredStrategy with several local GPUs, else the default strategy.
    """
    import tensorflow as tf

    if name == "auto":
        cluster, _ = _tf_config()
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        if workers > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker":
        return _scalar_safe(tf.distribute.MultiWorkerMirroredStrategy())
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "default":
        return tf.distribute.get_strategy()
    raise TrainingError(f"unknown strategy {name!r} (auto, default, one_device, mirrored, multi_worker)")


def _scalar_safe(strategy):
    """Works around Keras 3.15 reducing scalar metrics with `axis=0` under MultiWorkerMirroredStrategy.

    Keras' `reduce_per_replica` calls `strategy.reduce("MEAN", loss, axis=0)`
    on the per-replica loss, a scalar, which TensorFlow rejects ("Invalid
    reduction dimension 0 for input with 0 dimensions"). A scalar has no axis
    to reduce along; the cross-replica mean is what is meant.
    """
    reduce = strategy.reduce

    def scalar_safe_reduce(reduce_op, value, axis=None):
        first = strategy.experimental_local_results(value)[0]
        if axis is not None and getattr(first, "shape", None) is not None and first.shape.rank == 0:
            axis = None
        return reduce(reduce_op, value, axis=axis)

    strategy.reduce = scalar_safe_reduce
    return strategy


def _tf_config():
    """`(cluster, task)` of the `TF_CONFIG` environment variable (empty without it)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    return config.get("cluster", {}), config.get("task", {})


def _worker_index():
    """This process's rank among training workers (a chief is rank 0), -1 for evaluators and the like."""
    cluster, task = _tf_config()
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind == "chief":
        return 0
    if kind == "worker":
        return index + (1 if "chief" in cluster else 0)
    return -1


def is_chief():
    return _worker_index() == 0


@dataclasses.dataclass
class TrainConfig:
    """Everything `train` needs; the defaults are the PANNs recipe.

    Attributes:
        model: str. Zoo name or architecture class (e.g. `"cnn14"`, `"Cnn6"`), built from scratch.
        train_dir: str. Packed training shards (`keras-panns pack`).
        out_dir: str. Checkpoints, TensorBoard logs, the final `.keras` model and reports.
        checkpoint: str or None. Start from these weights (zoo name, .pth, preset) instead of scratch.
        eval_dir: str or None. Packed evaluation shards for mAP after every epoch.
        steps: int. Total optimizer steps.
        steps_per_epoch: int. Steps between checkpoints/evaluations.
        batch_size: int. Global batch (after mixup).
        learning_rate: float.
        amsgrad: bool.
        mixup_alpha: float or None (0/None: off).
        mixup_mode: str. `"features"` (PANNs: pairs mixed inside the network after
            bn0 and SpecAugment, see `with_feature_mixup`) or `"waveform"`
            (mixed in the input pipeline, as `Cnn14_mixup_time_domain`).
        sampling: str. `"balanced"` or `"shuffle"`.
        strategy: str. See `make_strategy`.
        dtype_policy: str or None. e.g. `"mixed_bfloat16"` (front end and loss stay float32).
        jit_compile: bool. XLA.
        seed: int.
        eval_batch_size: int.
        verbose: int or None. Keras' fit verbosity (default: a progress bar on a terminal).
        model_kwargs: dict. Extra constructor arguments of a model built from scratch.
    """

    model: str
    train_dir: str
    out_dir: str
    checkpoint: str = None
    eval_dir: str = None
    steps: int = 10000
    steps_per_epoch: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-3
    amsgrad: bool = True
    mixup_alpha: float = 1.0
    mixup_mode: str = "features"
    sampling: str = "balanced"
    strategy: str = "auto"
    dtype_policy: str = None
    jit_compile: bool = False
    seed: int = 0
    eval_batch_size: int = 16
    verbose: int = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)


def architecture(name):
    """`(model class, constructor kwargs)` for a zoo name (its card's config) or an architecture class name."""
    import keras_panns
    from keras_panns.hub import zoo

    try:
        card = zoo.get_card(name)
    except PANNsError:
        return keras_panns.get_architecture(name), {}
    return keras_panns.get_architecture(card.architecture), dict(card.config)


def build_model(config, manifest):
    """The model to train, from scratch or from `config.checkpoint`, sized to the packed data."""
    import keras_panns

    labels = manifest["labels"]
    overrides = {"num_classes": len(labels), "labels": labels}
    if config.checkpoint:
        model = keras_panns.from_pretrained(config.checkpoint, **overrides)
    else:
        arch, kwargs = architecture(config.model)
        rate = manifest["sample_rate"]
        takes_front_end = "fmax" in inspect.signature(arch).parameters
        if takes_front_end and rate != kwargs.get("sample_rate", 32000) and "fmax" not in config.model_kwargs:
            # PANNs' 16 kHz and 8 kHz models scale window and hop with the rate and cap fmax at Nyquist.
            scale = rate / 32000
            kwargs.update(window_size=int(1024 * scale), hop_size=int(320 * scale), fmax=min(14000, rate // 2))
        kwargs.update(config.model_kwargs, **overrides, sample_rate=rate)
        model = arch(**kwargs)
    if model.sample_rate != manifest["sample_rate"]:
        raise TrainingError(f"the model takes {model.sample_rate} Hz but the shards hold {manifest['sample_rate']} Hz")
    model.check_input_length(manifest["clip_samples"])
    return model


def compile_model(model, config):
    import keras

    optimizer = keras.optimizers.Adam(config.learning_rate, amsgrad=config.amsgrad)
    if config.dtype_policy and config.dtype_policy.startswith("mixed_float16"):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss={"clipwise_output": keras.losses.BinaryCrossentropy()},
                  jit_compile=config.jit_compile)
    return model


def _train_dataset(config, start_batch):
    """The global-batch training stream; Keras splits it across replicas.

    Training streams are not auto-sharded; each worker draws from its own
    seed instead (balanced or shuffled), so workers never see the same sequence.
    """
    from keras_panns.data import make_dataset

    ds = make_dataset(config.train_dir, mode=config.sampling, batch_size=config.batch_size,
                      mixup_alpha=config.mixup_alpha or None, mixup_mode=config.mixup_mode,
                      seed=config.seed + 7919 * _worker_index(),
                      start_batch=start_batch)
    return ds.map(lambda x, y: (x, {"clipwise_output": y}))


def _build_before_fit(model, strategy, config, manifest):
    """Builds the train step's state from shapes before `fit` under MultiWorkerMirroredStrategy.

    Keras 3.15's `fit` otherwise builds it by all-reducing a first data batch,
    which fails under MultiWorkerMirroredStrategy ("Attempt to convert a value
    (PerReplica ...)") and would also consume a batch of the stream.
    """
    import keras

    per_replica = max(1, config.batch_size // strategy.num_replicas_in_sync)
    waveform = keras.ops.zeros((per_replica, manifest["clip_samples"]))
    if _feature_mixup(config):
        waveform = {"waveform": keras.ops.zeros((2 * per_replica, manifest["clip_samples"])),
                    "mixup_lambda": keras.ops.full((2 * per_replica,), 0.5)}
    batch = (waveform, {"clipwise_output": keras.ops.zeros((per_replica, manifest["num_classes"]))})
    with strategy.scope():
        model._symbolic_build(data_batch=batch)  # noqa: SLF001
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None  # noqa: SLF001


def _feature_mixup(config):
    if config.mixup_mode not in ("features", "waveform"):
        raise TrainingError(f"mixup_mode must be 'features' or 'waveform', got {config.mixup_mode!r}")
    return bool(config.mixup_alpha) and config.mixup_mode == "features"


def train(config):
    """Trains (or resumes training) as `config` says; returns a summary dict.

    The summary holds `steps`, `resumed_from`, `history`, `model_path`,
    `model` (the trained network) and `fit_model` (what `fit` ran: the
    feature-mixup twin sharing `model`'s layers, or `model` itself).

    Resuming is automatic: if `out_dir/checkpoints` holds a checkpoint, the
    model, optimizer state, step and data stream continue from it.

    Example:
    ```python
    summary = train(TrainConfig(model="cnn6", train_dir="packed/train", eval_dir="packed/eval",
                                out_dir="runs/cnn6", steps=20000))
    ```
    """
    import keras

    from keras_panns.data import load_manifest
    from keras_panns.training.evaluate import EvaluationCallback
    from keras_panns.training.mixup import with_feature_mixup

    if config.dtype_policy:
        keras.config.set_dtype_policy(config.dtype_policy)
    keras.utils.set_random_seed(config.seed)
    manifest = load_manifest(config.train_dir)
    strategy = make_strategy(config.strategy)
    chief = is_chief()
    with strategy.scope():
        model = build_model(config, manifest)
        # With feature mixup, fit trains a twin that shares every layer; `model` is what gets saved.
        fit_model = compile_model(with_feature_mixup(model) if _feature_mixup(config) else model, config)
        checkpoints = os.path.join(config.out_dir, "checkpoints")
        try:
            step = restore(fit_model, checkpoints)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
    if step % config.steps_per_epoch:
        raise TrainingError(f"the checkpoint is at step {step}, not a multiple of steps_per_epoch "
                            f"{config.steps_per_epoch}; resume with the steps_per_epoch it was saved with")
    epochs = math.ceil(config.steps / config.steps_per_epoch)
    initial_epoch = step // config.steps_per_epoch
    if step:
        print(f"resuming from step {step}", file=sys.stderr)
    callbacks = [keras.callbacks.TerminateOnNaN(),
                 StepCheckpoint(checkpoints, config.steps_per_epoch, is_chief=chief)]
    if config.eval_dir:
        callbacks.insert(0, EvaluationCallback(config.eval_dir, batch_size=config.eval_batch_size,
                                               report_dir=config.out_dir if chief else None, model=model))
    if chief:
        try:
            import tensorboard  # noqa: F401  (tf.summary needs it; tensorflow-cpu does not bring it)

            callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.out_dir, "logs"), update_freq=50))
        except ImportError:
            print("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", file=sys.stderr)
    history = {}
    if initial_epoch < epochs:
        dataset = _train_dataset(config, step)
        if strategy.num_replicas_in_sync > 1:
            # Batch statistics over the global batch: replicas then keep identical moving statistics, and the
            # run equals one device with the whole batch (PANNs trained on one GPU).
            for layer in model._flatten_layers():  # noqa: SLF001
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        if strategy.extended._in_multi_worker_mode():  # noqa: SLF001
            _build_before_fit(fit_model, strategy, config, manifest)
        verbose = config.verbose if config.verbose is not None else (1 if sys.stderr.isatty() else 2)
        history = fit_model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
                                steps_per_epoch=config.steps_per_epoch, callbacks=callbacks, verbose=verbose,
                                shuffle=False).history
    losses = history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise TrainingError(f"the loss became {losses[-1]} in epoch {initial_epoch + len(losses)}; stopped. "
                            "The last finite checkpoint is kept; lower the learning rate or check the data.")
    final = os.path.join(config.out_dir, "model.keras")
    if chief:
        model.save(final)
    return {"steps": epochs * config.steps_per_epoch, "resumed_from": step, "history": history,
            "model_path": final, "model": model, "fit_model": fit_model}
