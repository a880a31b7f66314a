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

from keras_panns.errors import PANNsError
from keras_panns.training.checkpoints import StepCheckpoint, restore


class TrainingError(PANNsError):
    """Training cannot start or stopped abnormally (NaN loss, incompatible resume)."""


def make_strategy(name="auto"):
    """A `tf.distribute` strategy by name.

    `auto`: MultiWorkerMirroredStrategy when `TF_CONFIG` lists several workers,
    MirroredStrategy with several local GPUs, else the default strategy.
    """
    import tensorflow as tf

    if name == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        if workers > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "default":
        return tf.distribute.get_strategy()
    raise TrainingError(f"unknown strategy {name!r} (auto, default, one_device, mirrored, multi_worker)")


def is_chief():
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


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
    sampling: str = "balanced"
    strategy: str = "auto"
    dtype_policy: str = None
    jit_compile: bool = False
    seed: int = 0
    eval_batch_size: int = 16
    verbose: int = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)


def build_model(config, manifest):
    """The model to train, from scratch or from `config.checkpoint`, sized to the packed data."""
    import keras_panns
    from keras_panns.hub import zoo

    labels = manifest["labels"]
    overrides = {"num_classes": len(labels), "labels": labels}
    if config.checkpoint:
        model = keras_panns.from_pretrained(config.checkpoint, **overrides)
    else:
        try:
            card = zoo.get_card(config.model)
            arch, kwargs = keras_panns.get_architecture(card.architecture), dict(card.config)
        except PANNsError:
            arch, kwargs = keras_panns.get_architecture(config.model), {}
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


def _train_dataset(config, strategy, start_batch):
    from keras_panns.data import make_dataset

    def build(context=None):
        ds = make_dataset(config.train_dir, mode=config.sampling, batch_size=config.batch_size,
                          mixup_alpha=config.mixup_alpha or None, seed=config.seed, input_context=context,
                          start_batch=start_batch)
        return ds.map(lambda x, y: (x, {"clipwise_output": y}))

    if strategy.num_replicas_in_sync > 1 or strategy.extended._in_multi_worker_mode():  # noqa: SLF001
        return strategy.distribute_datasets_from_function(build)
    return build()


def train(config):
    """Trains (or resumes training) as `config` says; returns a summary dict.

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

    if config.dtype_policy:
        keras.config.set_dtype_policy(config.dtype_policy)
    keras.utils.set_random_seed(config.seed)
    manifest = load_manifest(config.train_dir)
    strategy = make_strategy(config.strategy)
    chief = is_chief()
    with strategy.scope():
        model = compile_model(build_model(config, manifest), config)
        checkpoints = os.path.join(config.out_dir, "checkpoints")
        step = restore(model, checkpoints)
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
                                               report_dir=config.out_dir if chief else None))
    if chief:
        try:
            import tensorboard  # noqa: F401  (tf.summary needs it; tensorflow-cpu does not bring it)

            callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.out_dir, "logs"), update_freq=50))
        except ImportError:
            print("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", file=sys.stderr)
    history = {}
    if initial_epoch < epochs:
        dataset = _train_dataset(config, strategy, step)
        verbose = config.verbose if config.verbose is not None else (1 if sys.stderr.isatty() else 2)
        history = model.fit(dataset, epochs=epochs, initial_epoch=initial_epoch,
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
            "model_path": final, "model": model}
