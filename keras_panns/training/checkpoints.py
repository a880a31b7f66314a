"""Step checkpoints that survive `kill -9`: weights, optimizer state and step, written atomically."""

import json
import os

import keras
import numpy as np

from keras_panns.atomic import atomic_write

LATEST = "latest.json"


def latest_checkpoint(directory):
    """`(step, weights path)` of the newest complete checkpoint in `directory`, or None."""
    path = os.path.join(directory, LATEST)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        latest = json.load(f)
    weights = os.path.join(directory, latest["weights"])
    return (int(latest["step"]), weights) if os.path.exists(weights) else None


def _seed_states(model):
    # SeedGenerator states (SpecAugment, dropout) are variables that save_weights leaves out; without them a
    # resumed run would draw different stripes and masks than the uninterrupted one.
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def restore(model, directory):
    """Loads the newest checkpoint (weights and optimizer state) into a compiled model; returns its step."""
    found = latest_checkpoint(directory)
    if found is None:
        return 0
    step, weights = found
    with open(os.path.join(directory, LATEST), encoding="utf-8") as f:
        saved_from = json.load(f).get("model", model.name)
    if saved_from != model.name:
        raise ValueError(
            f"the checkpoint in {directory} holds the weights of {saved_from!r}, not {model.name!r} "
            "(the feature-mixup twin differs from the plain model); resume with the same settings"
        )
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(weights)
    states = weights[: -len(".weights.h5")] + ".seeds.npz"
    if os.path.exists(states):
        with np.load(states) as saved:
            for i, variable in enumerate(_seed_states(model)):
                variable.assign(saved[f"s{i}"])
    return step


class StepCheckpoint(keras.callbacks.Callback):
    """Saves weights + optimizer state every epoch (an epoch being `steps_per_epoch` steps).

    A checkpoint is `ckpt-<step>.weights.h5`, written under a temporary name
    and renamed, then `latest.json` is replaced to point at it: a crash at
    any moment leaves the previous checkpoint intact. Non-finite losses are
    never saved. Only the chief writes (multi-worker training).

    Args:
        directory: str.
        steps_per_epoch: int. Steps between checkpoints.
        keep: int. Checkpoints kept on disk.
        is_chief: bool.
    """

    def __init__(self, directory, steps_per_epoch, keep=2, is_chief=True):
        super().__init__()
        self.directory, self.steps_per_epoch, self.keep, self.is_chief = directory, steps_per_epoch, keep, is_chief
        self.last_saved = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            return  # TerminateOnNaN stops the run; the last good checkpoint stays the latest
        self.save((epoch + 1) * self.steps_per_epoch)

    def save(self, step):
        if not self.is_chief:
            return
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{step}.weights.h5"
        target = os.path.join(self.directory, name)
        self.model.save_weights(target + ".partial.weights.h5", overwrite=True)
        os.replace(target + ".partial.weights.h5", target)
        seeds = os.path.join(self.directory, f"ckpt-{step}.seeds.npz")
        with atomic_write(seeds, "wb") as f:
            np.savez(f, **{f"s{i}": np.asarray(v) for i, v in enumerate(_seed_states(self.model))})
        with atomic_write(os.path.join(self.directory, LATEST)) as f:
            json.dump({"step": step, "weights": name, "model": self.model.name}, f)
        self.last_saved = step
        steps = sorted(
            int(n[5:-11])
            for n in os.listdir(self.directory)
            if n.startswith("ckpt-") and n.endswith(".weights.h5") and n[5:-11].isdigit()
        )
        for old in steps[: -self.keep]:
            for suffix in (".weights.h5", ".seeds.npz"):
                path = os.path.join(self.directory, f"ckpt-{old}{suffix}")
                if os.path.exists(path):
                    os.remove(path)
