"""Ports a PANNs PyTorch state dict into a keras_panns model, with strict accounting.

Keras layers are named after the PyTorch module paths (dots spelled `__`), so
the checkpoint key `conv_block1.conv1.weight` belongs to the Keras layer
`conv_block1__conv1`.
Each layer type knows how to transpose its tensors (PyTorch NCHW/OIHW to
Keras NHWC/HWIO). Every checkpoint key must be used, or be known as unused
(`num_batches_tracked`, and each architecture's `unused_checkpoint_keys`);
every Keras weight must be filled. Otherwise nothing is reported half-loaded:
a `CheckpointError` lists every missing, unexpected and mis-shaped tensor.
"""

import dataclasses
import fnmatch

import keras
import numpy as np

from keras_panns.errors import CheckpointError
from keras_panns.layers.log_mel import LogMelSpectrogram

_FRONT_END_KEYS = {
    "spectrogram_extractor.stft.conv_real.weight": "real_kernel",
    "spectrogram_extractor.stft.conv_imag.weight": "imag_kernel",
    "logmel_extractor.melW": "mel_matrix",
}
# Front-end tensors are deterministic: a checkpoint that disagrees by more than
# float32 rounding was made for another sample rate, FFT size or mel band.
_FRONT_END_ATOL = 1e-4


@dataclasses.dataclass
class PortReport:
    """What `port_state_dict` did.

    Attributes:
        loaded: checkpoint keys copied into Keras weights.
        checked: front-end keys compared with the layer's own tensors.
        ignored: keys known to be unused by the architecture.
        skipped: keys deliberately not loaded (e.g. a replaced head).
    """

    loaded: list
    checked: list
    ignored: list
    skipped: list

    def summary(self):
        return (
            f"{len(self.loaded)} tensors loaded, {len(self.checked)} front-end tensors verified, "
            f"{len(self.ignored)} unused keys ignored, {len(self.skipped)} skipped"
        )


def _conv_kernel(value, rank):
    # (O, I, *k) -> (*k, I, O)
    return np.transpose(value, tuple(range(2, 2 + rank)) + (1, 0))


def _layer_targets(layer):
    """(torch leaf, keras variable, converter) triples for one layer."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [
            ("weight", layer.gamma, None),
            ("bias", layer.beta, None),
            ("running_mean", layer.moving_mean, None),
            ("running_var", layer.moving_variance, None),
        ]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        targets = [("weight", layer.kernel, lambda w: np.transpose(w, (2, 3, 0, 1)))]
    elif isinstance(layer, keras.layers.Conv2D):
        targets = [("weight", layer.kernel, lambda w: _conv_kernel(w, 2))]
    elif isinstance(layer, keras.layers.Conv1D):
        targets = [("weight", layer.kernel, lambda w: _conv_kernel(w, 1))]
    elif isinstance(layer, keras.layers.Dense):
        # A Linear (O, I), or a Conv1d with kernel 1 (O, I, 1) used as a dense layer.
        targets = [("weight", layer.kernel, lambda w: (w[..., 0] if w.ndim == 3 else w).T)]
    else:
        raise CheckpointError(f"no PyTorch mapping for layer {layer.name} ({type(layer).__name__})")
    if getattr(layer, "use_bias", False):
        targets.append(("bias", layer.bias, None))
    return targets


def torch_module_path(layer_name):
    """PyTorch module path of a Keras layer name: `conv_block1__conv1` -> `conv_block1.conv1`."""
    return layer_name.replace("__", ".")


def _is_known_unused(key, patterns):
    return key.endswith(".num_batches_tracked") or any(fnmatch.fnmatchcase(key, p) for p in patterns)


def port_state_dict(model, state_dict, skip_prefixes=()):
    """Copies a PyTorch PANNs state dict into `model`, or raises listing every problem.

    Args:
        model: a `keras_panns` model (layers named after PyTorch modules).
        state_dict: mapping of checkpoint key to numpy array (see `read_state_dict`).
        skip_prefixes: PyTorch module paths whose weights are left as initialised and
            whose checkpoint keys are accepted unused, e.g. `("fc_audioset",)`
            when the model has a new head for fine-tuning.

    Returns:
        A `PortReport`.

    Raises:
        CheckpointError: a key is missing, unexpected or mis-shaped, or the
            checkpoint's STFT/mel tensors differ from the layer's (a checkpoint
            made for another front-end config).

    Example:
    ```python
    state = keras_panns.checkpoint.read_state_dict("Cnn14_mAP=0.431.pth")
    model = keras_panns.Cnn14()
    print(keras_panns.checkpoint.port_state_dict(model, state).summary())
    ```
    """
    remaining = dict(state_dict)
    report, misfit, assignments = PortReport([], [], [], []), _Misfit(), []
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, LogMelSpectrogram):
            _check_front_end(layer, remaining, report, misfit)
        else:
            assignments += _match_layer(layer, remaining, state_dict, skip_prefixes, report, misfit)
    unused_patterns = tuple(getattr(model, "unused_checkpoint_keys", ()))
    for key in list(remaining):
        if _is_known_unused(key, unused_patterns):
            report.ignored.append(key)
        elif any(key.startswith(p + ".") for p in skip_prefixes):
            report.skipped.append(key)
        else:
            misfit.unexpected.append(key)
    if misfit:
        raise misfit.error(model, state_dict)
    for variable, value in assignments:
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    return report


@dataclasses.dataclass
class _Misfit:
    """Everything about a checkpoint that does not fit the model, gathered before one error names it all."""

    missing: list = dataclasses.field(default_factory=list)  # (key, expected shape or "front end")
    mismatched: list = dataclasses.field(default_factory=list)  # (key, checkpoint shape, model shape)
    unexpected: list = dataclasses.field(default_factory=list)  # keys
    front_end: list = dataclasses.field(default_factory=list)  # (key, largest difference)

    def __bool__(self):
        return bool(self.missing or self.mismatched or self.unexpected or self.front_end)

    def error(self, model, state_dict):
        lines = [f"checkpoint does not fit {type(model).__name__} ({model.name}):"]
        if "model" in self.unexpected:
            lines.append(
                "  hint: this is a whole PANNs checkpoint; pass checkpoint['model'] (read_state_dict does this)"
            )
        lines += [f"  missing    {k}  (model expects {s})" for k, s in self.missing]
        lines += [f"  shape      {k}  checkpoint {c} vs model {m} (Keras layout)" for k, c, m in self.mismatched]
        lines += [f"  unexpected {k}  {tuple(state_dict[k].shape)}" for k in self.unexpected]
        lines += [
            f"  front end  {k}  differs by {d:.3g}: the checkpoint was made for another sample_rate, "
            f"window_size, mel_bins, fmin or fmax"
            for k, d in self.front_end
        ]
        return CheckpointError("\n".join(lines))


def _check_front_end(layer, remaining, report, misfit):
    """The checkpoint's STFT and mel tensors must equal the layer's own (they are computed, not loaded)."""
    for key, attr in _FRONT_END_KEYS.items():
        value = remaining.pop(key, None)
        if value is None:
            misfit.missing.append((key, "front end"))
            continue
        ours = keras.ops.convert_to_numpy(getattr(layer, attr))
        theirs = value[:, 0, :].T if value.ndim == 3 else value
        if theirs.shape != ours.shape:
            misfit.mismatched.append((key, value.shape, ours.shape))
            continue
        diff = float(np.max(np.abs(theirs.astype(np.float64) - ours)))
        if diff > _FRONT_END_ATOL:
            misfit.front_end.append((key, diff))
        report.checked.append(key)


def _match_layer(layer, remaining, state_dict, skip_prefixes, report, misfit):
    """`(variable, value)` pairs that fill one layer from the checkpoint (taken out of `remaining`)."""
    module = torch_module_path(layer.name)
    skipped = any(module == p or module.startswith(p + ".") for p in skip_prefixes)
    assignments = []
    for leaf, variable, convert in _layer_targets(layer):
        key = f"{module}.{leaf}"
        value = remaining.pop(key, None)
        if skipped:
            if value is not None:
                report.skipped.append(key)
            continue
        if value is None:
            misfit.missing.append((key, tuple(variable.shape)))
            continue
        value = convert(value) if convert else value
        if tuple(value.shape) != tuple(variable.shape):
            misfit.mismatched.append((key, tuple(state_dict[key].shape), tuple(variable.shape)))
            continue
        assignments.append((variable, value))
        report.loaded.append(key)
    return assignments
