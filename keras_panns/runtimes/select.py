"""`get_runner`: the forward pass of a model on the runtime and precision asked for, or the fastest that agrees.

Two verbs: `get_runner` builds (or reuses) the runner; `plan_runtime` says which path `get_runner` would
take without building one where it can (for a driver whose runners run elsewhere). Both read the runtimes
from `registry.REGISTRY` and take one `RuntimeOptions` (or its fields as keywords).

`runtime="auto"` measures, once per model weights and CPU, each path this CPU can run among the runtimes
that `auto` considers (Keras float32, OpenVINO float32, OpenVINO bfloat16 where the CPU has AMX or AVX-512
BF16, OpenVINO int8 when calibration audio is given) on reference audio, keeps those whose scores agree with
Keras float32 (`agreement`), and picks the fastest of them. The decision is written next to the compiled
files, under the model's `fingerprint.cache_key`, and reused.
"""

import dataclasses
import hashlib
import json
import os
import sys
import time

import numpy as np

from keras_panns.atomic import atomic_write
from keras_panns.errors import RuntimeUnavailableError
from keras_panns.runtimes import registry
from keras_panns.runtimes.fingerprint import cache_key
from keras_panns.runtimes.registry import BuildContext, RuntimeOptions

RUNTIMES = registry.names()
PRECISIONS = registry.precisions()
#: The agreement a path needs for `auto` to pick it: on every reference clip, the same top-5 classes as
#: Keras float32 and no score further than MAX_ABS_DELTA from it.
MAX_ABS_DELTA = 0.02
TOP_K = 5
#: Calibration clips used for int8 and for the agreement check (10 s each).
MAX_CALIBRATION_CLIPS = 32


@dataclasses.dataclass
class Choice:
    """Which path runs the model, and why.

    Attributes:
        runtime: str. `"keras"`, `"openvino"`, `"onnxruntime"` or `"litert"`.
        precision: str. `"float32"`, `"bfloat16"` or `"int8"`.
        reason: str. One sentence: asked for, or measured fastest among the agreeing paths.
        candidates: list of dicts (runtime, precision, clips_per_s, max_abs_delta, top5_equal, agrees,
            error) measured by `auto`; empty when nothing was measured.

    Example:
    ```python
    choice = decide(model)
    print(choice.runtime, choice.precision, choice.reason)
    for line in choice.table():
        print(line)
    ```
    """

    runtime: str
    precision: str
    reason: str
    candidates: list = dataclasses.field(default_factory=list)

    def table(self):
        """The measured candidates as aligned text lines (what `--verbose` prints).

        Returns:
            A list of str, one per candidate.

        Example:
        ```python
        for line in runner.choice.table():
            print(line)  # e.g. "  openvino  bfloat16   41.2 clips/s  max |delta| 3e-03  agrees"
        ```
        """
        lines = []
        for c in self.candidates:
            if c.get("error"):
                lines.append(f"  {c['runtime']:<9} {c['precision']:<8} unavailable: {c['error']}")
                continue
            lines.append(
                f"  {c['runtime']:<9} {c['precision']:<8} {c['clips_per_s']:7.2f} clips/s  max|d| "
                f"{c['max_abs_delta']:.4f}  top-5 {'same' if c['top5_equal'] else 'differs'}"
                f"{'' if c['agrees'] else '  (disagrees: not picked)'}"
            )
        return lines


def _cache_root(cache_dir):
    from keras_panns.hub.download import cache_dir as default_cache_dir

    return os.fspath(default_cache_dir(cache_dir))


def _calibration_clips(model, options):
    paths = options.calibration_paths()
    if not paths:
        return []
    from keras_panns.errors import ExportError
    from keras_panns.export.core import audio_clips

    try:
        return audio_clips(model, paths, 10 * model.sample_rate, MAX_CALIBRATION_CLIPS)
    except ExportError as exc:
        raise RuntimeUnavailableError(f"calibration: {exc}") from exc


def reference_clips(model, calibration_clips=()):
    """The audio `auto` checks agreement on: three synthetic 10-s signals and up to 8 calibration clips."""
    from keras_panns.export.core import synthetic_clips

    return synthetic_clips(model.sample_rate, 10 * model.sample_rate) + list(calibration_clips)[:8]


def agreement(reference, outputs):
    """`(max |score difference|, top-5 sets equal)` of a path's outputs against Keras float32's.

    The rule `auto` keeps a path by (with `MAX_ABS_DELTA`), and export and the browser page's tests check.
    Scores are `clipwise_output` and, for SED models, `framewise_output`.

    Args:
        reference: list of output dicts of Keras float32, one per clip.
        outputs: list of output dicts of the path, on the same clips.

    Returns:
        `(float, bool)`.

    Example:
    ```python
    worst, same_top5 = agreement([keras_out], [runner(clip[None])])
    agrees = same_top5 and worst <= MAX_ABS_DELTA
    ```
    """
    worst, same = 0.0, True
    for ref, out in zip(reference, outputs):
        for name in ("clipwise_output", "framewise_output"):
            if name in ref:
                worst = max(worst, float(np.max(np.abs(np.asarray(ref[name]) - np.asarray(out[name])))))
        top = lambda s: set(np.argsort(-np.asarray(s).ravel())[:TOP_K].tolist())  # noqa: E731
        same = same and top(ref["clipwise_output"]) == top(out["clipwise_output"])
    return worst, same


def _clips_per_second(runner, clip, repeats=3):
    batch = clip[None]
    runner(batch)  # compilation and allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner(batch)
        times.append(time.perf_counter() - start)
    return 1.0 / float(np.median(times))


def build_runner(model, runtime, precision, options=None, calibration_clips=(), key=None):
    """The runner of one explicit path, from the registry; raises `RuntimeUnavailableError` when it cannot run here.

    Args:
        model: a `PANNsModel`.
        runtime: str. A registered runtime.
        precision: str. One of its precisions.
        options: `RuntimeOptions` or None.
        calibration_clips: decoded calibration clips (int8), when already decoded.
        key: the model's `fingerprint.cache_key`, when already computed.

    Returns:
        `registry.Runner`.

    Example:
    ```python
    build_runner(model, "onnxruntime", "float32", RuntimeOptions(cache_dir="/tmp/cache"))
    ```
    """
    options = options or RuntimeOptions()
    context = BuildContext(_cache_root(options.cache_dir), list(calibration_clips), key)
    return registry.get(runtime).build(model, precision, options, context)


def _decision_path(model, root, key, runtime, precision, calibration_clips):
    from keras_panns.runtimes import cpu
    from keras_panns.runtimes.threads import available_cores

    try:
        import openvino

        ov_version = openvino.__version__
    except ImportError:
        ov_version = None
    digest = hashlib.blake2b(digest_size=8)
    digest.update(
        json.dumps(
            [
                cpu.cpu_info()[0],
                sorted(cpu.matrix_flags()),
                available_cores(),
                ov_version,
                runtime,
                precision,
                cpu.onednn_enabled(),
            ]
        ).encode()
    )
    for clip in calibration_clips:
        digest.update(np.ascontiguousarray(clip).data)
    return os.path.join(root, "runtimes", f"{key}-{digest.hexdigest()}.json")


def _candidates(runtime, precision, has_calibration):
    runtimes = [r.name for r in registry.REGISTRY.values() if r.in_auto] if runtime == "auto" else [runtime]
    paths = []
    for name in runtimes:
        for p in registry.get(name).precisions:
            if precision not in ("auto", p) or (p == "int8" and precision == "auto" and not has_calibration):
                continue
            paths.append((name, p))
    return paths


KERAS_ASKED = "asked for: Keras float32"


def _check_arguments(runtime, precision, options):
    if runtime != "auto":
        registry.get(runtime)  # an unknown runtime is named, with the known ones
    if precision not in PRECISIONS:
        raise RuntimeUnavailableError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if runtime != "auto" and precision != "auto" and precision not in registry.get(runtime).precisions:
        raise RuntimeUnavailableError(registry.get(runtime).precision_error(precision))
    if precision == "int8" and not options.calibration:
        raise RuntimeUnavailableError(
            "int8 needs calibration audio (--calibration DIR_OR_FILE, or "
            "calibration=[paths]): a few dozen clips like those you will run on"
        )


def _cached_decision(model, options, runtime, precision, clips):
    """`(model key, decision file, Choice or None)`: what `auto` decided before for these weights here."""
    key = cache_key(model)
    decision_path = _decision_path(model, _cache_root(options.cache_dir), key, runtime, precision, clips)
    if not os.path.exists(decision_path):
        return key, decision_path, None
    with open(decision_path, encoding="utf-8") as f:
        return key, decision_path, Choice(**json.load(f))


def plan_runtime(model, runtime="auto", precision="auto", options=None, **option_fields):
    """The `Choice` that `get_runner` makes, building a runner only where that is the way to know it.

    For a driver whose runners run elsewhere (the archive job's model actors). Keras float32, and an
    `auto` decided before for these weights on this CPU (cached, its runtime's package importable), are
    answered without building anything; an explicit other path is built once, to fail here rather than
    in every actor; an `auto` not decided yet is measured and cached as `get_runner` does.

    Args:
        model: as `get_runner`.
        runtime: as `get_runner`.
        precision: as `get_runner`.
        options: as `get_runner`.
        **option_fields: as `get_runner`.

    Returns:
        `Choice`.

    Raises:
        RuntimeUnavailableError: the path asked for cannot run here.

    Example:
    ```python
    choice = plan_runtime(model)          # Choice(runtime="openvino", precision="bfloat16", reason=...)
    ```
    """
    options = _options(options, option_fields)
    _check_arguments(runtime, precision, options)
    if runtime == "keras" and precision in ("auto", "float32"):
        return Choice("keras", "float32", KERAS_ASKED)
    if runtime == "auto" or precision == "auto":
        choice = _cached_decision(model, options, runtime, precision, _calibration_clips(model, options))[2]
        if choice is not None and registry.get(choice.runtime).missing() is None:
            return choice
    return choose(model, runtime, precision, options).choice


def _options(options, fields):
    if options is not None and fields:
        raise TypeError(f"give RuntimeOptions or its fields ({', '.join(sorted(fields))}), not both")
    return options or RuntimeOptions(**fields)


def choose(model, runtime="auto", precision="auto", options=None, **option_fields):
    """The runner `runtime`/`precision` mean for `model` here, with its `Choice` as `runner.choice`; not kept.

    The core of `get_runner`, which keeps the runner on the model; call `get_runner`.

    An explicit runtime and precision are built as asked (errors say what is missing). Otherwise each
    candidate path is built, checked against Keras float32 on `reference_clips` and timed at batch 1;
    the fastest that agrees (`MAX_ABS_DELTA`, same top-5) wins, and Keras float32 is always a candidate
    when the runtime is `auto`, so `auto` is never slower than it. The decision is cached per weights,
    CPU and options under `cache_dir/runtimes/`.

    Args:
        model: a `PANNsModel`.
        runtime: str. `"auto"`, `"keras"`, `"openvino"`, `"onnxruntime"` or `"litert"`.
        precision: str. `"auto"`, `"float32"`, `"bfloat16"` or `"int8"`.
        options: `RuntimeOptions` or None (the defaults).
        **option_fields: the fields of `RuntimeOptions` (calibration, cache_dir, threads), instead of `options`.

    Returns:
        A runner: called on a float32 batch `(clips, samples)`, it returns the model's output dict.

    Raises:
        RuntimeUnavailableError: the path asked for cannot run here (the message says what is missing).

    Example:
    ```python
    runner = choose(model)                   # e.g. openvino bfloat16 on an AMX CPU
    runner.choice.reason
    scores = runner(batch)["clipwise_output"]
    ```
    """
    options = _options(options, option_fields)
    _check_arguments(runtime, precision, options)
    if runtime == "keras" and precision in ("auto", "float32"):
        runner = build_runner(model, "keras", "float32", options)
        runner.choice = Choice("keras", "float32", KERAS_ASKED)
        return runner
    clips = _calibration_clips(model, options)
    paths = _candidates(runtime, precision, bool(clips))
    if runtime != "auto" and precision != "auto":
        runner = build_runner(model, runtime, precision, options, clips)
        runner.choice = Choice(runtime, precision, f"asked for: {runtime} {precision}")
        return runner
    key, decision_path, choice = _cached_decision(model, options, runtime, precision, clips)
    if choice is not None:
        try:
            runner = build_runner(model, choice.runtime, choice.precision, options, clips, key)
        except RuntimeUnavailableError:
            pass  # e.g. a package removed since: measure again
        else:
            runner.choice = choice
            return runner
    choice, runner = _measure(model, paths, clips, options, key, runtime, precision)
    os.makedirs(os.path.dirname(decision_path), exist_ok=True)
    with atomic_write(decision_path) as f:
        json.dump(dataclasses.asdict(choice), f, indent=2)
    runner.choice = choice
    return runner


def _measure(model, paths, clips, options, key, runtime, precision):
    reference_runner = build_runner(model, "keras", "float32", options)
    audio = reference_clips(model, clips)
    reference = [reference_runner(clip[None]) for clip in audio]
    candidates, runners = [], {}
    for name, p in paths:
        record = {"runtime": name, "precision": p}
        try:
            runner = reference_runner if name == "keras" else build_runner(model, name, p, options, clips, key)
        except RuntimeUnavailableError as exc:
            if runtime != "auto" and len(paths) == 1:
                raise
            candidates.append({**record, "error": str(exc)})
            continue
        candidates.append({**record, **_trial(runner, audio, reference)})
        runners[(name, p)] = runner
    best = _fastest_agreeing(candidates, runtime, precision)
    chosen = (best["runtime"], best["precision"])
    return Choice(*chosen, _reason(best, candidates), candidates), runners[chosen]


def _trial(runner, audio, reference):
    """How fast `runner` is at batch 1 and how closely it agrees with the Keras float32 reference."""
    worst, same = agreement(reference, [runner(clip[None]) for clip in audio])
    return {
        "clips_per_s": round(_clips_per_second(runner, audio[0]), 3),
        "max_abs_delta": worst,
        "top5_equal": same,
        "agrees": bool(same and worst <= MAX_ABS_DELTA),
        "error": None,
    }


def _fastest_agreeing(candidates, runtime, precision):
    agreeing = [c for c in candidates if c.get("agrees")]
    if not agreeing:
        raise RuntimeUnavailableError(
            f"no {runtime} {precision} path agrees with Keras float32 within max|d| <= {MAX_ABS_DELTA} and the "
            f"same top-{TOP_K} on the reference audio:\n" + "\n".join(Choice("", "", "", candidates).table())
        )
    return max(agreeing, key=lambda c: c["clips_per_s"])


def _reason(best, candidates):
    others = ", ".join(
        f"{c['runtime']} {c['precision']} {c['clips_per_s']:.2f}"
        for c in candidates
        if c is not best and not c.get("error")
    )
    return (
        f"fastest agreeing path measured on this CPU: {best['clips_per_s']:.2f} clips/s at batch 1"
        f"{' (others: ' + others + ')' if others else ''}; agreement max|d| {best['max_abs_delta']:.4f}"
    )


def get_runner(model, runtime="keras", precision="auto", options=None, *, verbose=False, **option_fields):
    """The forward pass of `model` on `runtime`/`precision`, built once per model and options and kept on it.

    An explicit runtime and precision are built as asked (errors say what is missing). With `auto`, each
    candidate path is built, checked against Keras float32 on `reference_clips` and timed at batch 1;
    the fastest that agrees (`MAX_ABS_DELTA`, same top-5) wins, and Keras float32 is always a candidate,
    so `auto` is never slower than it. The decision is cached per weights, CPU and options under
    `cache_dir/runtimes/`. A runner other than Keras holds a copy of the weights; it is rebuilt when the
    model's weights change (checked by a cheap fingerprint of every variable at each call). A runner given
    as `runtime` (anything callable) is returned as it is, so the inference functions take either.

    Args:
        model: a `PANNsModel`.
        runtime: str (`"auto"` or a registered runtime: `"keras"`, `"openvino"`, `"onnxruntime"`,
            `"litert"`), or a runner.
        precision: str. `"auto"`, `"float32"`, `"bfloat16"` or `"int8"`.
        options: `RuntimeOptions` or None (the defaults).
        verbose: bool. Print the choice and its measured candidates to stderr.
        **option_fields: the fields of `RuntimeOptions` (calibration, cache_dir, threads), instead of `options`.

    Returns:
        `registry.Runner`, with its `Choice` as `runner.choice`.

    Raises:
        RuntimeUnavailableError: the path asked for cannot run here (the message says what is missing).

    Example:
    ```python
    run = get_runner(model, "auto", calibration="clips/", verbose=True)
    keras_panns.tag(model, "speech.wav", runtime=run)
    ```
    """
    if callable(runtime):
        return runtime  # a runner built already (or a compiled model's): no framework to import
    import keras

    options = _options(options, option_fields)
    cache = model.__dict__.setdefault("_panns_runners", {})
    key = (
        runtime,
        precision,
        None if options.calibration is None else json.dumps(options.calibration_paths()),
        None if options.cache_dir is None else os.fspath(options.cache_dir),
        options.threads,
    )
    fingerprint = None
    if runtime != "keras":
        fingerprint = tuple(float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.abs(w)))) for w in model.weights)
    cached = cache.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    runner = choose(model, runtime, precision, options)
    cache[key] = (fingerprint, runner)
    if verbose:
        print(f"keras-panns: running {model.name} on {runner.describe()}: {runner.choice.reason}", file=sys.stderr)
        for line in runner.choice.table():
            print(line, file=sys.stderr)
    return runner
