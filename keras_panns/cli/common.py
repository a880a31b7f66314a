"""Flags, validators and loading shared by the `keras-panns` subcommands.

Usage mistakes raise `absl.app.UsageError` (exit status 2, with a pointer to
`--help`); failures of the work itself raise a `PANNsError` (exit status 1).
`main` turns both into one line on stderr, so no command prints its own.
"""

import os
import sys

from absl import app, flags


def _owner():
    # Flags are listed in --help under the calling command, not under this module.
    return sys._getframe(2).f_globals["__name__"]


def define_model_flags(fv, default, model_help):
    """`--model`, `--checkpoint` and `--cache_dir`: which weights to load and where they are cached."""
    owner = _owner()
    flags.DEFINE_string("model", default, model_help, flag_values=fv, module_name=owner)
    flags.DEFINE_string(
        "checkpoint",
        None,
        "An official .pth file, a preset directory, a .keras file or an http(s) URL; overrides --model.",
        flag_values=fv,
        module_name=owner,
    )
    flags.DEFINE_string(
        "cache_dir",
        None,
        "Cache of downloads and converted weights (default $KERAS_PANNS_CACHE or ~/.cache/keras_panns).",
        flag_values=fv,
        module_name=owner,
    )


def define_operating_points_flag(fv, what):
    """`--operating_points FILE`: per-class thresholds from `keras-panns calibrate`; `what` says their use here."""
    flags.DEFINE_string(
        "operating_points",
        None,
        f"Per-class thresholds from keras-panns calibrate: {what}",
        flag_values=fv,
        module_name=_owner(),
    )


def operating_points(fv, model=None):
    """The `--operating_points` file, checked against `model` (an index manifest) when given; None without it."""
    if not fv.operating_points:
        return None
    from keras_panns.decisions import OperatingPoints

    return OperatingPoints.load(fv.operating_points, model=model)


def define_input_flags(fv):
    """`--recursive`: what a directory argument means."""
    flags.DEFINE_boolean(
        "recursive",
        False,
        "A directory argument means the audio files in it; with --recursive, also those in its subdirectories.",
        flag_values=fv,
        module_name=_owner(),
    )


def define_event_flags(fv):
    """`--high`, `--low`, `--median` and `--min_duration`: how frame scores become events (hysteresis)."""
    owner = _owner()
    flags.DEFINE_float(
        "high", 0.5, "Score that starts an event.", lower_bound=0, upper_bound=1, flag_values=fv, module_name=owner
    )
    flags.DEFINE_float(
        "low", 0.2, "Score below which an event ends.", lower_bound=0, upper_bound=1, flag_values=fv, module_name=owner
    )
    flags.DEFINE_integer(
        "median",
        1,
        "Median smoothing width in frames (10 ms each; 1 = none).",
        lower_bound=1,
        flag_values=fv,
        module_name=owner,
    )
    flags.DEFINE_float(
        "min_duration",
        0.0,
        "Drop events shorter than this many seconds.",
        lower_bound=0,
        flag_values=fv,
        module_name=owner,
    )
    flags.register_multi_flags_validator(
        ["low", "high"], lambda f: f["low"] <= f["high"], message="--low must not exceed --high", flag_values=fv
    )
    flags.DEFINE_string(
        "operating_points",
        None,
        "Per-class event high and low from keras-panns calibrate (on an index with events); the classes "
        "without one keep --high and --low.",
        flag_values=fv,
        module_name=owner,
    )


def event_points(fv, model=None):
    """The `--operating_points` file and its classes with event points, checked against `model` when given.

    Returns:
        `(points, [(class name, high, low), ...])`; `(None, [])` without the flag.
    """
    points = operating_points(fv)
    if points is None:
        return None, []
    if model is not None:
        from keras_panns.runtimes.fingerprint import model_fingerprint

        points.check_model(model_fingerprint(model, getattr(fv, "precision", "float32")), source=fv.operating_points)
    return points, points.event_points()


def event_thresholds(fv, model):
    """`(high, low)` for the detector: per class with `--operating_points` (checked against `model`), else the
    `--high` and `--low` flags."""
    points, _ = event_points(fv, model)
    return (fv.high, fv.low) if points is None else points.event_thresholds(model.labels, fv.high, fv.low)


def define_group_flags(fv):
    """`--group NAME` (repeatable): keep only the classes of these AudioSet ontology groups."""
    flags.DEFINE_multi_string(
        "group",
        [],
        "Keep only the classes of this AudioSet ontology group and its "
        "descendants, by name or mid (e.g. Vehicle, Music, /m/07yv9); repeatable.",
        flag_values=fv,
        module_name=_owner(),
    )


def group_classes(fv):
    """Output indices of the `--group` classes, or None without `--group`; an unknown group is a usage error."""
    from keras_panns.errors import UnknownLabelError
    from keras_panns.labels import group_union

    if not fv.group:
        return None
    try:
        return group_union(fv.group)
    except UnknownLabelError as exc:
        raise app.UsageError(f"--group: {exc}") from exc


def check_audioset_model(model, classes):
    """`--group` speaks of AudioSet classes: the model must output all 527 of them."""
    from keras_panns.labels import audioset_labels

    if classes is not None and model.labels != audioset_labels():
        raise app.UsageError(
            f"--group needs a model with the 527 AudioSet classes; {model.name} has {len(model.labels)} other classes"
        )


def frame_scoring_model(model, command):
    """`models.sed.frame_scoring_model`, saying on stderr when it converted a tagger."""
    from keras_panns.errors import CheckpointError
    from keras_panns.models.sed.sed import FROM_TAGGER_NOTE
    from keras_panns.models.sed.sed import frame_scoring_model as framewise

    try:
        sed = framewise(model)
    except CheckpointError as exc:
        raise app.UsageError(str(exc)) from exc
    if sed is not model:
        print(
            f"keras-panns {command}: {model.name} is a tagger; running its decision-level forward ({FROM_TAGGER_NOTE})",
            file=sys.stderr,
        )
    return sed


def define_out_flag(fv, help_text, endings=None, required=False):
    """`--out`, the one name of every command's output path; `endings` are the accepted extensions."""
    flags.DEFINE_string("out", None, help_text, flag_values=fv, module_name=_owner())
    if required:
        flags.mark_flag_as_required("out", flag_values=fv)
    if endings:
        flags.register_validator(
            "out",
            lambda value: value is None or value.lower().endswith(endings),
            message=f"--out must end in {' or '.join(endings)}",
            flag_values=fv,
        )


def no_arguments(args):
    """For commands that take only flags."""
    if args:
        raise app.UsageError(f"unexpected arguments {' '.join(args)}")


def audio_arguments(args, fv):
    """The audio files named by the command line, directories expanded (see `--recursive`)."""
    from keras_panns.audio import expand_audio_paths

    if not args:
        raise app.UsageError("no audio files given")
    return expand_audio_paths(args, recursive=fv.recursive)


def report_file_error(command, path, exc):
    """One stderr line for a file that failed, naming it once."""
    message = str(exc)
    print(f"keras-panns {command}: {message if path in message else f'{path}: {message}'}", file=sys.stderr)


def load_model(fv):
    """The model that `--checkpoint` (or else `--model`) names; raises `PANNsError` if it cannot be loaded."""
    from keras_panns.errors import DownloadError, PANNsError
    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel

    try:
        return loaders.load(PANNsModel, fv.checkpoint or fv.model, cache_dir=fv.cache_dir)
    except PANNsError as exc:
        hint = (
            "\nOn the command line, pass a local file with --checkpoint PATH." if isinstance(exc, DownloadError) else ""
        )
        raise type(exc)(f"cannot load the model: {exc}{hint}") from exc


RUNTIME_HELP = (
    "Where the forward pass runs. auto (default): the fastest path on this CPU whose scores agree with Keras "
    "float32 (the same top-5 classes and no score more than 0.02 away on reference audio), measured once per "
    "model weights and CPU and cached with the compiled files (the first run pays the build: about 10-20 s for "
    "Cnn14); it always considers Keras float32, so it is never slower than that. keras: Keras float32 "
    "(XLA-compiled on TensorFlow). openvino: OpenVINO on the CPU (float32, bfloat16 on AMX/AVX-512 BF16 CPUs, "
    "int8 with --calibration). $KERAS_PANNS_RUNTIME changes the default. onnxruntime, litert: the validated "
    "ONNX/TFLite export (float32 or int8; the "
    "export is slow and memory-hungry for Cnn14). --verbose prints what was picked and why."
)


def define_runtime_flags(fv):
    """`--runtime`, `--precision`, `--calibration` and `--verbose`: where and how the forward pass runs.

    The `--runtime` default is `$KERAS_PANNS_RUNTIME`, else auto.
    """

    from keras_panns.runtimes import PRECISIONS, RUNTIMES

    owner = _owner()
    default = os.environ.get("KERAS_PANNS_RUNTIME") or "auto"
    if default not in RUNTIMES:
        raise app.UsageError(f"KERAS_PANNS_RUNTIME={default!r} is not a runtime; choose from {', '.join(RUNTIMES)}")
    flags.DEFINE_enum("runtime", default, RUNTIMES, RUNTIME_HELP, flag_values=fv, module_name=owner)
    flags.DEFINE_enum(
        "precision",
        "auto",
        PRECISIONS,
        "Arithmetic of the forward pass. auto: what --runtime "
        "picks (with --runtime auto: float32 or bfloat16, or int8 when --calibration is given, "
        "whichever is fastest and agrees). float32 always gives float32; bfloat16 needs a CPU with "
        "amx_bf16 or avx512_bf16; int8 needs --calibration.",
        flag_values=fv,
        module_name=owner,
    )
    flags.DEFINE_multi_string(
        "calibration",
        [],
        "Audio (files or directories; repeatable) like the audio you run "
        "on: calibrates int8 and joins the reference audio auto checks agreement on.",
        flag_values=fv,
        module_name=owner,
    )
    flags.DEFINE_boolean(
        "verbose",
        False,
        "Print the runtime and precision used, why, and what auto measured.",
        flag_values=fv,
        module_name=owner,
    )


def _runtime_options(fv):
    from keras_panns.runtimes import RuntimeOptions

    return RuntimeOptions(calibration=fv.calibration or None, cache_dir=fv.cache_dir)


def runtime_runner(model, fv):
    """The forward pass `--runtime`/`--precision` ask for; a path that cannot run here is a usage error."""
    from keras_panns.errors import RuntimeUnavailableError
    from keras_panns.runtimes import get_runner

    try:
        return get_runner(model, fv.runtime, fv.precision, _runtime_options(fv), verbose=fv.verbose)
    except RuntimeUnavailableError as exc:
        raise app.UsageError(f"--runtime {fv.runtime} --precision {fv.precision}: {exc}") from exc


def record_compiled(model, runner, fv):
    """Records `runner`'s compiled file (`runtimes.compiled`), so that the next command with the same model and
    flags runs it without Keras (`compiled_model`). Only commands that look for it record it: the record hashes
    the weights."""
    from keras_panns.runtimes import compiled

    compiled.record(fv.checkpoint or fv.model, fv.runtime, fv.precision, _runtime_options(fv), model, runner)


def compiled_model(fv):
    """`(model, runner)` of a compiled model cached for these flags (no Keras imported), or None.

    See `keras_panns.runtimes.compiled` for when a cached file is used and when the model is built again.
    """
    from keras_panns.runtimes import compiled

    found = compiled.load(fv.checkpoint or fv.model, fv.runtime, fv.precision, _runtime_options(fv))
    if found is not None and fv.verbose:
        model, runner = found
        print(f"keras-panns: running {model.name} on {runner.describe()} (compiled, cached)", file=sys.stderr)
    return found
