"""`get_runner`: the forward pass of a model on the runtime and precision asked for, or the fastest that agrees.

`runtime="auto"` measures, once per model weights and CPU, each path this CPU can run (Keras float32,
OpenVINO float32, OpenVINO bfloat16 where the CPU has AMX or AVX-512 BF16, OpenVINO int8 when calibration
audio is given) on reference audio, keeps those whose scores agree with Keras float32 (`agrees`), and
picks the fastest of them. The decision is written next to the compiled files and reused.
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

RUNTIMES = ("auto", "keras", "onnxruntime", "litert", "openvino")
PRECISIONS = ("auto", "float32", "bfloat16", "int8")
#: The agreement a path needs for `auto` to pick it: on every reference clip, the same top-5 classes as
#: Keras float32 and no score further than MAX_ABS_DELTA from it.
MAX_ABS_DELTA = 0.02
TOP_K = 5
#: Calibration clips used for int8 and for the agreement check (10 s each).
MAX_CALIBRATION_CLIPS = 32
_PRECISIONS_OF = {
    "keras": ("float32",),
    "openvino": ("float32", "bfloat16", "int8"),
    "onnxruntime": ("float32", "int8"),
    "litert": ("float32", "int8"),
}


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


def _calibration_clips(model, calibration):
    if not calibration:
        return []
    from keras_panns.errors import ExportError
    from keras_panns.export.core import audio_clips

    paths = [calibration] if isinstance(calibration, (str, os.PathLike)) else list(calibration)
    try:
        return audio_clips(model, paths, 10 * model.sample_rate, MAX_CALIBRATION_CLIPS)
    except ExportError as exc:
        raise RuntimeUnavailableError(f"calibration: {exc}") from exc


def reference_clips(model, calibration_clips=()):
    """The audio `auto` checks agreement on: three synthetic 10-s signals and up to 8 calibration clips."""
    from keras_panns.export.core import _synthetic_clips

    return _synthetic_clips(model.sample_rate, 10 * model.sample_rate) + list(calibration_clips)[:8]


def agreement(reference, outputs):
    """`(max |score difference|, top-5 sets equal)` of a path's outputs against Keras float32's.

    Scores are `clipwise_output` and, for SED models, `framewise_output`.
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


def build_runner(
    model, runtime, precision, *, cache_dir=None, calibration_clips=(), calibration_paths=None, threads=None, key=None
):
    """The runner of one explicit path; raises `RuntimeUnavailableError` when it cannot run here."""
    if runtime not in _PRECISIONS_OF:
        raise RuntimeUnavailableError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if precision not in _PRECISIONS_OF[runtime]:
        other = "openvino" if precision == "bfloat16" else "openvino, onnxruntime or litert"
        raise RuntimeUnavailableError(
            f"runtime {runtime!r} runs {' or '.join(_PRECISIONS_OF[runtime])}; "
            f"{precision} is offered by --runtime {other}"
        )
    if runtime == "keras":
        from keras_panns.runtimes.keras_runner import KerasRunner

        return KerasRunner(model)
    root = _cache_root(cache_dir)
    if runtime == "openvino":
        from keras_panns.runtimes.openvino_runner import OpenVINORunner

        return OpenVINORunner(model, precision, root, list(calibration_clips), threads, key)
    from keras_panns.runtimes.exported_runner import ExportedRunner

    return ExportedRunner(model, runtime, precision, root, calibration_paths, threads, key)


def _decision_path(model, root, key, runtime, precision, calibration_clips):
    from keras_panns.export.threads import available_cores
    from keras_panns.runtimes import cpu

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
    runtimes = ("keras", "openvino") if runtime == "auto" else (runtime,)
    paths = []
    for name in runtimes:
        for p in _PRECISIONS_OF[name]:
            if precision not in ("auto", p) or (p == "int8" and precision == "auto" and not has_calibration):
                continue
            paths.append((name, p))
    return paths


KERAS_ASKED = "asked for: Keras float32"
#: The package each runtime needs (what `decide` checks before trusting a cached decision).
_PACKAGE_OF = {"keras": "keras", "openvino": "openvino", "onnxruntime": "onnxruntime", "litert": "ai_edge_litert"}


def _check_arguments(runtime, precision, calibration):
    if runtime not in RUNTIMES:
        raise RuntimeUnavailableError(f"unknown runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise RuntimeUnavailableError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "int8" and not calibration:
        raise RuntimeUnavailableError(
            "int8 needs calibration audio (--calibration DIR_OR_FILE, or "
            "calibration=[paths]): a few dozen clips like those you will run on"
        )


def _cached_decision(model, cache_dir, runtime, precision, clips):
    """`(weights key, decision file, Choice or None)`: what `auto` decided before for these weights here."""
    from keras_panns.runtimes.openvino_runner import weights_hash

    key = weights_hash(model)
    decision_path = _decision_path(model, _cache_root(cache_dir), key, runtime, precision, clips)
    if not os.path.exists(decision_path):
        return key, decision_path, None
    with open(decision_path, encoding="utf-8") as f:
        return key, decision_path, Choice(**json.load(f))


def decide(model, runtime="auto", precision="auto", *, calibration=None, cache_dir=None, threads=None):
    """The `Choice` that `choose` makes, building a runner only where that is the way to know it.

    For a driver whose runners run elsewhere (the archive job's model actors). Keras float32, and an
    `auto` decided before for these weights on this CPU (cached, its runtime's package importable), are
    answered without building anything; an explicit other path is built once, to fail here rather than
    in every actor; an `auto` not decided yet is measured and cached as `choose` does.

    Args:
        model: as `choose`.
        runtime: as `choose`.
        precision: as `choose`.
        calibration: as `choose`.
        cache_dir: as `choose`.
        threads: as `choose`.

    Returns:
        `Choice`.

    Raises:
        RuntimeUnavailableError: the path asked for cannot run here.

    Example:
    ```python
    choice = decide(model)          # Choice(runtime="openvino", precision="bfloat16", reason=...)
    ```
    """
    import importlib.util

    _check_arguments(runtime, precision, calibration)
    if runtime == "keras" and precision in ("auto", "float32"):
        return Choice("keras", "float32", KERAS_ASKED)
    if runtime == "auto" or precision == "auto":
        choice = _cached_decision(model, cache_dir, runtime, precision, _calibration_clips(model, calibration))[2]
        if choice is not None and importlib.util.find_spec(_PACKAGE_OF[choice.runtime]) is not None:
            return choice
    return choose(model, runtime, precision, calibration=calibration, cache_dir=cache_dir, threads=threads).choice


def choose(model, runtime="auto", precision="auto", *, calibration=None, cache_dir=None, threads=None):
    """The runner `runtime`/`precision` mean for `model` here, with its `Choice` as `runner.choice`.

    An explicit runtime and precision are built as asked (errors say what is missing). Otherwise each
    candidate path is built, checked against Keras float32 on `reference_clips` and timed at batch 1;
    the fastest that agrees (`MAX_ABS_DELTA`, same top-5) wins, and Keras float32 is always a candidate
    when the runtime is `auto`, so `auto` is never slower than it. The decision is cached per weights,
    CPU and options under `cache_dir/runtimes/`.

    Args:
        model: a `PANNsModel`.
        runtime: str. `"auto"`, `"keras"`, `"openvino"`, `"onnxruntime"` or `"litert"`.
        precision: str. `"auto"`, `"float32"`, `"bfloat16"` or `"int8"`.
        calibration: a folder, file or list of files of real clips, for int8 (and `auto`'s agreement check).
        cache_dir: str or None. Where decisions and converted files are kept; None: the keras_panns cache.
        threads: int or None. CPU threads the runtime may use; None: its default.

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
    _check_arguments(runtime, precision, calibration)
    if runtime == "keras" and precision in ("auto", "float32"):
        runner = build_runner(model, "keras", "float32")
        runner.choice = Choice("keras", "float32", KERAS_ASKED)
        return runner
    clips = _calibration_clips(model, calibration)
    paths = _candidates(runtime, precision, bool(clips))
    if runtime != "auto" and precision != "auto":
        runner = build_runner(
            model,
            runtime,
            precision,
            cache_dir=cache_dir,
            calibration_clips=clips,
            calibration_paths=calibration,
            threads=threads,
        )
        runner.choice = Choice(runtime, precision, f"asked for: {runtime} {precision}")
        return runner
    key, decision_path, choice = _cached_decision(model, cache_dir, runtime, precision, clips)
    if choice is not None:
        try:
            runner = build_runner(
                model,
                choice.runtime,
                choice.precision,
                cache_dir=cache_dir,
                calibration_clips=clips,
                calibration_paths=calibration,
                threads=threads,
                key=key,
            )
        except RuntimeUnavailableError:
            pass  # e.g. a package removed since: measure again
        else:
            runner.choice = choice
            return runner
    choice, runner = _measure(model, paths, clips, calibration, cache_dir, threads, key, runtime, precision)
    os.makedirs(os.path.dirname(decision_path), exist_ok=True)
    with atomic_write(decision_path) as f:
        json.dump(dataclasses.asdict(choice), f, indent=2)
    runner.choice = choice
    return runner


def _measure(model, paths, clips, calibration, cache_dir, threads, key, runtime, precision):
    from keras_panns.runtimes.keras_runner import KerasRunner

    reference_runner = KerasRunner(model)
    audio = reference_clips(model, clips)
    reference = [reference_runner(clip[None]) for clip in audio]
    build = dict(cache_dir=cache_dir, calibration_clips=clips, calibration_paths=calibration, threads=threads, key=key)
    candidates, runners = [], {}
    for name, p in paths:
        record = {"runtime": name, "precision": p}
        try:
            runner = reference_runner if name == "keras" else build_runner(model, name, p, **build)
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


def runner_for(
    model, runtime="keras", precision="auto", *, calibration=None, cache_dir=None, threads=None, verbose=False
):
    """`choose`, remembered on the model object, so each call of `tag`/`sed`/... builds a path only once.

    A runner other than Keras holds a copy of the weights; it is rebuilt when the model's weights change
    (checked by a cheap fingerprint of every variable at each call of this function).

    Args:
        model: as `choose`.
        runtime: as `choose`.
        precision: as `choose`.
        calibration: as `choose`.
        cache_dir: as `choose`.
        threads: as `choose`.
        verbose: bool. Print the choice and its measured candidates to stderr.

    Returns:
        A runner, as `choose`.

    Raises:
        RuntimeUnavailableError: the path asked for cannot run here.

    Example:
    ```python
    run = runner_for(model, "auto", verbose=True)
    keras_panns.tag(model, "speech.wav", runtime=run)
    ```
    """
    import keras

    cache = model.__dict__.setdefault("_panns_runners", {})
    options = (
        runtime,
        precision,
        None
        if calibration is None
        else json.dumps(
            [os.fspath(c) for c in ([calibration] if isinstance(calibration, (str, os.PathLike)) else calibration)]
        ),
        None if cache_dir is None else os.fspath(cache_dir),
        threads,
    )
    fingerprint = None
    if runtime != "keras":
        fingerprint = tuple(float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.abs(w)))) for w in model.weights)
    cached = cache.get(options)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    runner = choose(model, runtime, precision, calibration=calibration, cache_dir=cache_dir, threads=threads)
    cache[options] = (fingerprint, runner)
    if verbose:
        print(f"keras-panns: running {model.name} on {runner.describe()}: {runner.choice.reason}", file=sys.stderr)
        for line in runner.choice.table():
            print(line, file=sys.stderr)
    return runner


def resolve(model, runtime="keras", precision="auto"):
    """A runner from what the inference functions accept as `runtime`: a name, or a runner already built.

    Args:
        model: a `PANNsModel`.
        runtime: str or a runner (any callable, returned as it is).
        precision: str, for a runtime given by name.

    Returns:
        A runner.

    Example:
    ```python
    run = resolve(model, "keras")                                  # XLA-compiled Keras float32
    run = resolve(model, runner_for(model, "openvino", "int8", calibration="clips/"))
    ```
    """
    if callable(runtime):
        return runtime
    return runner_for(model, runtime, precision)
