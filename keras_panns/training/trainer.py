"""Training PANNs models with `model.fit` on packed shards, the PANNs recipe by default.

Recipe (Kong et al. 2020): Adam, learning rate 1e-3, amsgrad, batch 32,
balanced sampling, mixup alpha 1.0, SpecAugment (in the models), binary
cross-entropy on `clipwise_output`. Every part is an argument.
"""

import dataclasses
import inspect
import math
import os
import sys

import keras
import numpy as np

from keras_panns.data import load_manifest, make_dataset
from keras_panns.errors import TrainingError
from keras_panns.hub.loaders import architecture_and_config
from keras_panns.models import PANNsModel
from keras_panns.models.log_mel_tagger import front_end_for_rate
from keras_panns.training import distribution
from keras_panns.training.checkpoints import StepCheckpoint, restore
from keras_panns.training.evaluate import EvaluationCallback
from keras_panns.training.mixup import with_feature_mixup


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
        strategy: str. See `distribution.make_strategy` (`tf.distribute` on
            TensorFlow, `keras.distribution.DataParallel` on JAX).
        dtype_policy: str or None. e.g. `"mixed_bfloat16"` (front end and loss stay float32).
        jit_compile: bool. XLA on TensorFlow (JAX always compiles with XLA).
        steps_per_execution: int. Steps run on the device between two returns
            to Python (callbacks, progress, NaN check); more means fewer host
            syncs. Must divide `steps_per_epoch`.
        scale_learning_rate: bool. Scale the learning rate linearly with
            `batch_size / 32` (PANNs' batch), for large-batch GPU runs.
        seed: int.
        eval_batch_size: int.
        verbose: int or None. Keras' fit verbosity (default: a progress bar on a terminal).
        model_kwargs: dict. Extra constructor arguments of a model built from scratch.

    Example:
    ```python
    config = TrainConfig(model="cnn6", train_dir="packed/train", out_dir="runs/cnn6", steps=20000,
                         dtype_policy="mixed_bfloat16", strategy="mirrored")
    ```
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
    steps_per_execution: int = 1
    scale_learning_rate: bool = False
    seed: int = 0
    eval_batch_size: int = 16
    verbose: int = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)


def build_model(config, manifest):
    """The model to train, from scratch or from `config.checkpoint`, sized to the packed data."""
    labels = manifest["labels"]
    overrides = {"num_classes": len(labels), "labels": labels}
    if config.checkpoint:
        model = PANNsModel.from_pretrained(config.checkpoint, **overrides)
    else:
        arch, kwargs = architecture_and_config(config.model)
        rate = manifest["sample_rate"]
        takes_front_end = "fmax" in inspect.signature(arch).parameters
        if takes_front_end and rate != kwargs.get("sample_rate", 32000) and "fmax" not in config.model_kwargs:
            kwargs.update(front_end_for_rate(rate))
        kwargs.update(config.model_kwargs, **overrides, sample_rate=rate)
        model = arch(**kwargs)
    if model.sample_rate != manifest["sample_rate"]:
        raise TrainingError(f"the model takes {model.sample_rate} Hz but the shards hold {manifest['sample_rate']} Hz")
    model.check_input_length(manifest["clip_samples"])
    return model


PANNS_BATCH_SIZE = 32


def learning_rate(config):
    """The Adam learning rate: as given, or scaled linearly from PANNs' batch of 32 when asked."""
    if config.scale_learning_rate:
        return config.learning_rate * config.batch_size / PANNS_BATCH_SIZE
    return config.learning_rate


def compile_model(model, config):
    optimizer = keras.optimizers.Adam(learning_rate(config), amsgrad=config.amsgrad)
    if config.dtype_policy and config.dtype_policy.startswith("mixed_float16"):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    jit_compile = True if keras.backend.backend() == "jax" else config.jit_compile
    model.compile(
        optimizer=optimizer,
        loss={"clipwise_output": keras.losses.BinaryCrossentropy()},
        jit_compile=jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    return model


def _train_dataset(config, start_batch, batch_size):
    """This process's training stream; Keras splits it across replicas.

    Training streams are not auto-sharded; each worker draws from its own
    seed instead (balanced or shuffled), so workers never see the same sequence.
    `batch_size` is the global batch on TensorFlow and this process's slice of
    it on multi-process JAX.
    """
    ds = make_dataset(
        config.train_dir,
        mode=config.sampling,
        batch_size=batch_size,
        mixup_alpha=config.mixup_alpha or None,
        mixup_mode=config.mixup_mode,
        seed=config.seed + 7919 * distribution.worker_index(),
        start_batch=start_batch,
    )
    return ds.map(lambda x, y: (x, {"clipwise_output": y}))


def _zeros_batch(config, manifest):
    """`per_replica -> (inputs, targets)` of zeros shaped like one replica's training batch."""
    samples, classes = manifest["clip_samples"], manifest["num_classes"]

    def batch(per_replica):
        waveform = keras.ops.zeros((per_replica, samples))
        if _feature_mixup(config):
            waveform = {
                "waveform": keras.ops.zeros((2 * per_replica, samples)),
                "mixup_lambda": keras.ops.full((2 * per_replica,), 0.5),
            }
        return waveform, {"clipwise_output": keras.ops.zeros((per_replica, classes))}

    return batch


def _feature_mixup(config):
    if config.mixup_mode not in ("features", "waveform"):
        raise TrainingError(f"mixup_mode must be 'features' or 'waveform', got {config.mixup_mode!r}")
    return bool(config.mixup_alpha) and config.mixup_mode == "features"


@dataclasses.dataclass
class TrainingSummary:
    """What a `train` run did.

    Attributes:
        steps: int. The step training reached.
        resumed_from: int. The step it resumed from (0 for a fresh run).
        history: dict. Keras' `History.history` of this run (loss and metrics per epoch).
        model_path: str. Where the final model was saved (`out_dir/model.keras`).
        model: the trained network.
        fit_model: what `fit` ran: the feature-mixup twin sharing `model`'s layers, or `model` itself.

    Example:
    ```python
    summary = train(config)
    summary.steps, summary.model_path
    summary["steps"]   # as the dict train returned before
    ```
    """

    steps: int
    resumed_from: int
    history: dict
    model_path: str
    model: object
    fit_model: object

    def __getitem__(self, key):
        # train() returned a dict before; item access keeps that code working.
        return getattr(self, key)


def train(config):
    """Trains (or resumes training) as `config` says; returns a `TrainingSummary`.

    Resuming is automatic: if `out_dir/checkpoints` holds a checkpoint, the
    model, optimizer state, step and data stream continue from it.

    Args:
        config: `TrainConfig`.

    Returns:
        `TrainingSummary`.

    Raises:
        TrainingError: the loss became NaN (the last good checkpoint is kept), or a checkpoint that does
            not fit this config.
        DataError: the packed data cannot be read.

    Example:
    ```python
    summary = train(TrainConfig(model="cnn6", train_dir="packed/train", eval_dir="packed/eval",
                                out_dir="runs/cnn6", steps=20000))
    ```
    """
    _check_config(config)
    strategy = distribution.make_strategy(config.strategy)  # joins a JAX cluster before any computation
    keras.utils.set_random_seed(config.seed)
    manifest = load_manifest(config.train_dir)
    chief = distribution.is_chief()
    checkpoints = os.path.join(config.out_dir, "checkpoints")
    model, fit_model, step = _build_and_restore(config, manifest, strategy, checkpoints)
    epochs = math.ceil(config.steps / config.steps_per_epoch)
    initial_epoch = step // config.steps_per_epoch
    if step:
        print(f"resuming from step {step}", file=sys.stderr)
    history = {}
    if initial_epoch < epochs:
        dataset = _train_dataset(config, step, distribution.per_process_batch(strategy, config.batch_size))
        distribution.prepare_fit(model, fit_model, strategy, config.batch_size, _zeros_batch(config, manifest))
        verbose = config.verbose if config.verbose is not None else (1 if sys.stderr.isatty() else 2)
        with distribution.fit_scope(strategy):
            history = fit_model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=config.steps_per_epoch,
                callbacks=_callbacks(config, model, checkpoints, chief),
                verbose=verbose,
                shuffle=False,
            ).history
    losses = history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise TrainingError(
            f"the loss became {losses[-1]} in epoch {initial_epoch + len(losses)}; stopped. "
            "The last finite checkpoint is kept; lower the learning rate or check the data."
        )
    final = os.path.join(config.out_dir, "model.keras")
    if chief:
        model.save(final)
    return TrainingSummary(
        steps=epochs * config.steps_per_epoch,
        resumed_from=step,
        history=history,
        model_path=final,
        model=model,
        fit_model=fit_model,
    )


def _check_config(config):
    """Sets the dtype policy; raises `TrainingError` for a config that cannot checkpoint where it says."""
    if config.dtype_policy:
        keras.config.set_dtype_policy(config.dtype_policy)
    if config.steps_per_execution < 1 or config.steps_per_epoch % config.steps_per_execution:
        raise TrainingError(
            f"steps_per_execution {config.steps_per_execution} must divide steps_per_epoch "
            f"{config.steps_per_epoch} (checkpoints are written between executions)"
        )


def _build_and_restore(config, manifest, strategy, checkpoints):
    """`(model, the model fit trains, the step restored)`, built under the strategy's scope."""
    with strategy.scope():
        model = build_model(config, manifest)
        # With feature mixup, fit trains a twin that shares every layer; `model` is what gets saved.
        fit_model = compile_model(with_feature_mixup(model) if _feature_mixup(config) else model, config)
        try:
            step = restore(fit_model, checkpoints)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
    if step % config.steps_per_epoch:
        raise TrainingError(
            f"the checkpoint is at step {step}, not a multiple of steps_per_epoch "
            f"{config.steps_per_epoch}; resume with the steps_per_epoch it was saved with"
        )
    return model, fit_model, step


def _callbacks(config, model, checkpoints, chief):
    """NaN stop, step checkpoints, evaluation (when `eval_dir` is set) and TensorBoard on the chief."""
    callbacks = [keras.callbacks.TerminateOnNaN(), StepCheckpoint(checkpoints, config.steps_per_epoch, is_chief=chief)]
    if config.eval_dir:
        callbacks.insert(
            0,
            EvaluationCallback(
                config.eval_dir,
                batch_size=config.eval_batch_size,
                report_dir=config.out_dir if chief else None,
                model=model,
            ),
        )
    if chief:
        try:
            import tensorboard  # noqa: F401  (tf.summary needs it; tensorflow-cpu does not bring it)

            callbacks.append(keras.callbacks.TensorBoard(os.path.join(config.out_dir, "logs"), update_freq=50))
        except ImportError:
            print("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)", file=sys.stderr)
    return callbacks
