"""Trains a PANNs model on packed shards (keras-panns pack) with the PANNs recipe.

Defaults are the paper's recipe: Adam (learning rate 1e-3, amsgrad), batch
32, balanced sampling, mixup alpha 1.0, SpecAugment, binary cross-entropy.
Every epoch (--steps_per_epoch steps) a checkpoint with the optimizer state
is written atomically to <out>/checkpoints; running the same command again
after a crash or kill -9 resumes from the last one, at the same step with the
same data stream. With --eval_dir, mAP / mean AUC / d' on those shards are
computed after every epoch (exactly, as scikit-learn does) and a per-class
CSV is written. The run stops on a NaN loss. TensorBoard logs go to
<out>/logs; the final model to <out>/model.keras.

Distribution, TensorFlow backend: --strategy auto uses
MultiWorkerMirroredStrategy when TF_CONFIG lists several workers (run the
same command on every host, with a shared --out), MirroredStrategy over
several local GPUs, else one device. JAX backend (KERAS_BACKEND=jax): auto
(or data_parallel) uses keras.distribution.DataParallel over every device;
for several hosts set KERAS_DISTRIBUTION_JOB_ADDRESSES (the coordinator's
host:port), KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID
and run the same command on each. Batch norm statistics are global on both.

Speed: --dtype_policy mixed_bfloat16 (or mixed_float16, with loss scaling)
trains in mixed precision; the front end, bn0 and the loss stay float32.
--jit_compile uses XLA on TensorFlow (JAX always does). --steps_per_execution
N runs N steps per return to Python (fewer host syncs; it must divide
--steps_per_epoch). --scale_learning_rate multiplies the learning rate by
batch_size / 32 for large batches; without it the rate is used as given.

Examples:
  keras-panns train --model cnn14 --train_dir packed/full_train --eval_dir packed/eval --out runs/cnn14
  keras-panns train --model cnn6 --train_dir packed/balanced --steps 20000 --dtype_policy mixed_bfloat16 \
      --jit_compile --out runs/cnn6
  KERAS_BACKEND=jax keras-panns train --model cnn14 --train_dir packed/full_train --batch_size 256 \
      --scale_learning_rate --dtype_policy mixed_bfloat16 --steps_per_execution 50 --out runs/cnn14_jax
"""

from keras_panns.cli.common import no_arguments

USAGE = "--model NAME --train_dir DIR --out DIR [--eval_dir DIR] [--steps N] [--batch_size 32] ..."


def define_flags(fv):
    from absl import flags

    flags.DEFINE_string("model", "cnn14", "Zoo name or architecture to train from scratch.", flag_values=fv)
    flags.DEFINE_string(
        "checkpoint", None, "Start from these weights (zoo name, .pth, preset) instead.", flag_values=fv
    )
    flags.DEFINE_string("train_dir", None, "Packed training shards.", flag_values=fv)
    flags.DEFINE_string("eval_dir", None, "Packed evaluation shards (mAP after every epoch).", flag_values=fv)
    flags.DEFINE_string("out", None, "Run directory (checkpoints, logs, model.keras, reports).", flag_values=fv)
    flags.DEFINE_integer(
        "steps", 600000, "Total optimizer steps (PANNs: 600k for Cnn14).", lower_bound=1, flag_values=fv
    )
    flags.DEFINE_integer(
        "steps_per_epoch", 2000, "Steps between checkpoints and evaluations.", lower_bound=1, flag_values=fv
    )
    flags.DEFINE_integer("batch_size", 32, "Global batch size.", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.", flag_values=fv)
    flags.DEFINE_boolean("amsgrad", True, "Adam's amsgrad variant (PANNs: on).", flag_values=fv)
    flags.DEFINE_float(
        "mixup_alpha", 1.0, "Mixup Beta(alpha, alpha); 0 turns mixup off.", lower_bound=0, flag_values=fv
    )
    flags.DEFINE_enum(
        "mixup_mode",
        "features",
        ["features", "waveform"],
        "Where pairs are mixed: 'features' inside the network after bn0 and SpecAugment (PANNs, "
        "mAP 0.431) or 'waveform' in the input pipeline (Cnn14_mixup_time_domain, 0.425).",
        flag_values=fv,
    )
    flags.DEFINE_enum("sampling", "balanced", ["balanced", "shuffle"], "Training example order.", flag_values=fv)
    flags.DEFINE_enum(
        "strategy",
        "auto",
        ["auto", "default", "one_device", "mirrored", "multi_worker", "data_parallel"],
        "tf.distribute strategy (TensorFlow) or keras.distribution.DataParallel (JAX: auto, "
        "data_parallel, multi_worker).",
        flag_values=fv,
    )
    flags.DEFINE_string("dtype_policy", None, "Keras dtype policy, e.g. mixed_bfloat16.", flag_values=fv)
    flags.DEFINE_boolean("jit_compile", False, "Compile with XLA (TensorFlow; JAX always compiles).", flag_values=fv)
    flags.DEFINE_integer(
        "steps_per_execution",
        1,
        "Steps per return to Python (must divide --steps_per_epoch).",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_boolean("scale_learning_rate", False, "Scale --learning_rate by batch_size / 32.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Random seed (data order, mixup, initialisation).", flag_values=fv)
    for name in ("train_dir", "out"):
        flags.mark_flag_as_required(name, flag_values=fv)


def run(args, fv):
    from keras_panns.training import TrainConfig, train

    no_arguments(args)
    config = TrainConfig(
        model=fv.model,
        checkpoint=fv.checkpoint,
        train_dir=fv.train_dir,
        eval_dir=fv.eval_dir,
        out_dir=fv.out,
        steps=fv.steps,
        steps_per_epoch=fv.steps_per_epoch,
        batch_size=fv.batch_size,
        learning_rate=fv.learning_rate,
        amsgrad=fv.amsgrad,
        mixup_alpha=fv.mixup_alpha or None,
        mixup_mode=fv.mixup_mode,
        sampling=fv.sampling,
        strategy=fv.strategy,
        dtype_policy=fv.dtype_policy,
        jit_compile=fv.jit_compile,
        steps_per_execution=fv.steps_per_execution,
        scale_learning_rate=fv.scale_learning_rate,
        seed=fv.seed,
    )
    summary = train(config)
    print(
        f"trained to step {summary['steps']} (resumed from {summary['resumed_from']}); "
        f"model saved to {summary['model_path']}"
    )
    return 0
