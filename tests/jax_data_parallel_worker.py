"""Trains on two JAX host devices with keras.distribution.DataParallel (run by test_jax_distributed.py).

Usage: KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 python jax_data_parallel_worker.py DATA OUT
Writes OUT/result.json and OUT/<run>.npz (the weights of each run).
"""

import json
import os
import sys

import jax
import keras
import numpy as np

from keras_panns.errors import TrainingError
from keras_panns.training import TrainConfig, distribution, train

TINY = {"window_size": 256, "hop_size": 80, "fmax": 4000, "mel_bins": 32, "embedding_size": 64}


def config(data, out, **kwargs):
    base = dict(
        model="Cnn6",
        train_dir=data,
        out_dir=out,
        steps=4,
        steps_per_epoch=2,
        batch_size=8,
        mixup_alpha=1.0,
        mixup_mode="features",
        sampling="balanced",
        verbose=0,
        model_kwargs=TINY,
        seed=1,
        strategy="data_parallel",
    )
    base.update(kwargs)
    return TrainConfig(**base)


def replicas_identical(model):
    """Every variable lives on both devices, with the same value on each."""
    for variable in model.variables:
        shards = variable.value.addressable_shards
        if len({shard.device for shard in shards}) != 2:
            return False, f"{variable.path} is on {[s.device for s in shards]}"
        first = np.asarray(shards[0].data)
        if first.shape != tuple(variable.shape) or any(
            not np.array_equal(first, np.asarray(s.data)) for s in shards[1:]
        ):
            return False, f"{variable.path} differs between devices"
    return True, ""


def main(data, out):
    assert keras.backend.backend() == "jax" and len(jax.devices()) == 2, jax.devices()
    result = {"devices": [str(d) for d in jax.devices()]}
    try:
        distribution.make_strategy("mirrored")
        result["mirrored"] = "accepted"
    except TrainingError as exc:
        result["mirrored"] = str(exc)
    result["auto"] = type(distribution.make_strategy("auto")).__name__
    straight = train(config(data, os.path.join(out, "straight")))
    ok, why = replicas_identical(straight["model"])
    result.update(replicas_identical=ok, why=why, steps=int(straight["fit_model"].optimizer.iterations))
    train(config(data, os.path.join(out, "resumed"), steps=2))
    resumed = train(config(data, os.path.join(out, "resumed")))
    result["resumed_from"] = resumed["resumed_from"]
    one = train(config(data, os.path.join(out, "one_device"), strategy="default"))
    for name, run in (("straight", straight), ("resumed", resumed), ("one_device", one)):
        np.savez(os.path.join(out, f"{name}.npz"), *[np.asarray(w) for w in run["model"].weights])
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
