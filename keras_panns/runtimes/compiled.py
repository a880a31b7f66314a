"""Compiled models found without Keras: the inference commands' fast path.

When a command has built a compiled file for its model (OpenVINO IR, or an
ONNX/TFLite export, under the cache), it records an entry beside it. The next
command with the same model and options finds the entry, loads the compiled
file with its runtime alone and runs: no TensorFlow, Keras or JAX is imported.

The rule: an entry is used only when all of these are what they were when it
was written, and otherwise the model is loaded through Keras and the entry
written anew:
- the model source's identity (`hub.identity.source_identity`): a local
  checkpoint file or preset folder by every file's name, size and mtime in
  nanoseconds; a zoo name by its card and the checkpoint's published md5;
- the request: runtime and precision as asked (`auto` stays `auto`: the
  entry holds what `auto` decided), and the calibration files' paths, sizes
  and mtimes;
- keras-panns' version (the graph it builds) and the runtime package's
  version (a file built by another version is rebuilt);
- the compiled file(s): their sizes and mtimes, as written (a truncated or
  rewritten file is rebuilt, said once on stderr, never run).

The entry also records what the build knew: the weights' sha256, the
model's name, card, rate, shortest input, labels and outputs, and the
choice. A cache folder that cannot be written is said once, and the command
runs without caching. Entries are written atomically, so two processes
building the same entry each leave a whole file.

Example:
```python
found = compiled.load("Cnn14_mAP=0.431.pth", "auto", "auto", RuntimeOptions())
if found is not None:
    model, runner = found  # a CompiledModel (labels, rate, ...) and its runner, no Keras imported
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys

from keras_panns.atomic import atomic_write
from keras_panns.hub.identity import source_identity
from keras_panns.runtimes import registry
from keras_panns.version import __version__

FORMAT = "keras-panns-compiled/1"
FOLDER = "compiled"


@dataclasses.dataclass(frozen=True)
class CardName:
    """The zoo card a compiled model was made from, by name (what the commands print)."""

    name: str


@dataclasses.dataclass(frozen=True)
class CompiledModel:
    """What the inference functions need of a model, read from a compiled entry instead of a Keras model.

    Attributes:
        name: str. The model's name.
        card: `CardName` or None.
        sample_rate: int.
        min_samples: int. The shortest input.
        labels: list of str.
        outputs: tuple of str. The output names (`clipwise_output`, `embedding`, ...).
        weights_sha256: str. The weights the compiled file was made from.
        architecture: str or None. The Keras model's class (`Cnn14`); None in entries of older versions.

    Example:
    ```python
    model, runner = compiled.load(source, "auto", "auto", RuntimeOptions())
    keras_panns.tag(model, "a.wav", runtime=runner)
    ```
    """

    name: str
    card: CardName | None
    sample_rate: int
    min_samples: int
    labels: list
    outputs: tuple
    weights_sha256: str
    architecture: str | None = None

    @property
    def output(self):
        """The output names, as a Keras model's `output` dict is used (`"embedding" in model.output`)."""
        return self.outputs

    def check_input_length(self, num_samples, source=None):
        """Raises `AudioError` if `num_samples` is too short, as `PANNsModel.check_input_length`.

        Example:
        ```python
        model.check_input_length(100, "short.wav")  # AudioError naming the file and the minimum
        ```
        """
        from keras_panns.audio import check_length

        check_length(num_samples, self.min_samples, self.sample_rate, self.name, source)


def _package_version(runtime):
    from importlib import metadata

    package = registry.get(runtime).package
    try:
        return metadata.version({"ai_edge_litert": "ai-edge-litert"}.get(package, package))
    except metadata.PackageNotFoundError:
        return None


def _files_stat(paths):
    found = []
    for path in paths:
        stat = os.stat(path)
        found.append([os.path.abspath(path), stat.st_size, stat.st_mtime_ns])
    return found


def _compiled_files(path):
    """The files a compiled model is: an IR's .xml and .bin, or one export."""
    if path.endswith(".xml"):
        return [path, path[: -len(".xml")] + ".bin"]
    return [path]


def _key(identity, runtime, precision, options):
    calibration = options.calibration_paths()
    request = {
        "format": FORMAT,
        "package_version": __version__,
        "source": identity,
        "runtime": runtime,
        "precision": precision,
        "calibration": _files_stat(sorted(calibration)) if calibration else None,
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32], request


def _entry_path(options, key):
    from keras_panns.hub.download import cache_dir

    return os.path.join(os.fspath(cache_dir(options.cache_dir)), FOLDER, f"{key}.json")


def record(source, runtime, precision, options, model, runner):
    """Writes the entry that lets the next command with `source` and these options skip Keras.

    Nothing is written for a runner without a compiled file (Keras), or a source that cannot be identified
    without loading it. A cache folder that cannot be written is said once on stderr.

    Args:
        source: the model source as the command was given it (path or zoo name).
        runtime: str. As asked (`auto` included).
        precision: str. As asked.
        options: `RuntimeOptions`.
        model: the Keras `PANNsModel` the runner was built from.
        runner: the runner `get_runner` returned.

    Returns:
        str (the entry's path) or None.

    Example:
    ```python
    compiled.record("Cnn14_mAP=0.431.pth", "auto", "auto", RuntimeOptions(), model, runner)
    ```
    """
    identity = source_identity(source)
    if identity is None or (getattr(runner, "runtime", "keras") == "keras" and runtime != "auto"):
        return None  # Keras asked for: it runs through Keras
    from keras_panns.runtimes.fingerprint import cache_key, weights_sha256

    digest = weights_sha256(model)  # once: the entry records it, and the cache key is made of it
    runner = _compiled_runner(model, runner, options, cache_key(model, digest))
    path = getattr(runner, "path", None)
    if path is None:
        return None
    key, request = _key(identity, runtime, precision, options)
    card = getattr(model, "card", None)
    entry = {
        **request,
        "runtime_used": runner.runtime,
        "precision_used": runner.precision,
        "runtime_version": _package_version(runner.runtime),
        "compiled": _files_stat(_compiled_files(path)),
        "choice": dataclasses.asdict(runner.choice) if getattr(runner, "choice", None) is not None else None,
        "model": {
            "name": model.name,
            "card": card.name if card is not None else None,
            "sample_rate": int(model.sample_rate),
            "min_samples": int(model.min_samples),
            "labels": list(model.labels),
            "outputs": sorted(model.output),
            "weights_sha256": digest,
            "architecture": type(model).__name__,
        },
    }
    target = _entry_path(options, key)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with atomic_write(target) as f:
            json.dump(entry, f, indent=1)
    except OSError as exc:
        _say_once(
            f"cannot cache the compiled model in {os.path.dirname(target)} ({exc.strerror or exc}); "
            "running without the fast path"
        )
        return None
    return target


def _compiled_runner(model, runner, options, key):
    """The runner whose compiled file a command will start from: `runner`, or, when `auto` picked Keras by its
    steady-state speed, the fastest compiled path that agreed too (a command would pay seconds to import
    TensorFlow); None when there is none.
    """
    if getattr(runner, "runtime", "keras") != "keras":
        return runner
    choice = getattr(runner, "choice", None)
    if choice is None:
        return None
    agreeing = [
        c
        for c in choice.candidates
        if c.get("agrees") and c["runtime"] != "keras" and registry.get(c["runtime"]).loader is not None
    ]
    if not agreeing:
        return None
    best = max(agreeing, key=lambda c: c["clips_per_s"])
    from keras_panns.runtimes.select import Choice, build_runner

    built = build_runner(model, best["runtime"], best["precision"], options, key=key)  # cached by auto's trial
    built.choice = Choice(
        best["runtime"],
        best["precision"],
        f"the fastest compiled path that agrees ({best['clips_per_s']:.2f} clips/s, max|d| "
        f"{best['max_abs_delta']:.4f}): a command starts from its file without importing TensorFlow; in-process "
        f"auto runs {choice.runtime} {choice.precision}",
        choice.candidates,
    )
    return built


_SAID = set()


def _say_once(message):
    if message not in _SAID:
        _SAID.add(message)
        print(f"keras-panns: {message}", file=sys.stderr)


def load(source, runtime, precision, options):
    """`(CompiledModel, runner)` from a recorded entry that still holds (the rule above), else None.

    Args:
        source: the model source as the command was given it.
        runtime: str. As asked.
        precision: str. As asked.
        options: `RuntimeOptions`.

    Returns:
        `(CompiledModel, Runner)` or None.

    Example:
    ```python
    found = compiled.load("Cnn14_mAP=0.431.pth", "auto", "auto", RuntimeOptions(threads=2))
    ```
    """
    identity = source_identity(source)
    if identity is None:
        return None
    try:
        key, request = _key(identity, runtime, precision, options)
        target = _entry_path(options, key)
        with open(target, encoding="utf-8") as f:
            entry = json.load(f)
    except (OSError, ValueError):
        return None  # no entry (or calibration files gone): the slow path writes one
    if any(entry.get(name) != value for name, value in request.items()):
        return None
    runtime_used = registry.get(entry["runtime_used"])
    if runtime_used.missing() is not None or entry["runtime_version"] != _package_version(runtime_used.name):
        return None  # another runtime version: rebuilt through Keras
    files = [path for path, _, _ in entry["compiled"]]
    try:
        unchanged = _files_stat(files) == entry["compiled"]
    except OSError:
        unchanged = False
    if not unchanged:
        _say_once(f"the compiled model {files[0]} changed or is missing since it was built; building it again")
        return None
    model = CompiledModel(
        name=entry["model"]["name"],
        card=CardName(entry["model"]["card"]) if entry["model"]["card"] else None,
        sample_rate=entry["model"]["sample_rate"],
        min_samples=entry["model"]["min_samples"],
        labels=entry["model"]["labels"],
        outputs=tuple(entry["model"]["outputs"]),
        weights_sha256=entry["model"]["weights_sha256"],
        architecture=entry["model"].get("architecture"),
    )
    try:
        runner = runtime_used.load_compiled(files[0], entry["precision_used"], options, model)
    except Exception as exc:  # a file the runtime cannot read: never run it, build it again
        _say_once(f"cannot load the compiled model {files[0]} ({type(exc).__name__}: {exc}); building it again")
        return None
    if entry.get("choice"):
        from keras_panns.runtimes.select import Choice

        runner.choice = Choice(**entry["choice"])
    return model, runner
