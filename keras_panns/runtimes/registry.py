"""Every runtime a model's forward pass can run on, declared once: what it is, what it needs, how to build it.

`select` (the `get_runner` and `plan_runtime` verbs), the CLI's `--runtime`
choices, the messages that name a missing package and its extra, `auto`'s
candidates and the conformance test (`registry_test.py`) all read `REGISTRY`.
A new runtime is its runner module (a `build` function returning a `Runner`)
and one `register` line below.

Builders are named as `"module:function"` and imported only when a runner is
built, so that listing the runtimes imports no ML framework.

Example:
```python
from keras_panns.runtimes import registry

registry.get("openvino").precisions  # ('float32', 'bfloat16', 'int8')
[r.name for r in registry.REGISTRY.values() if r.in_auto]  # ['keras', 'openvino']
```
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from keras_panns.errors import RuntimeUnavailableError


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """How a runtime is built and run, beside its name and precision.

    Attributes:
        calibration: a folder, file or list of files of real clips, for int8 (and `auto`'s agreement check).
        cache_dir: str or None. Where decisions and converted files are kept; None: the keras_panns cache.
        threads: int or None. CPU threads the runtime may use; None: its default.

    Example:
    ```python
    get_runner(model, "openvino", "int8", RuntimeOptions(calibration="clips/", threads=4))
    ```
    """

    calibration: str | os.PathLike | Sequence[str | os.PathLike] | None = None
    cache_dir: str | os.PathLike | None = None
    threads: int | None = None

    def calibration_paths(self):
        """The calibration files as a list of str (empty without calibration).

        Returns:
            list of str.

        Example:
        ```python
        RuntimeOptions(calibration="a.wav").calibration_paths()  # ['a.wav']
        ```
        """
        if not self.calibration:
            return []
        paths = [self.calibration] if isinstance(self.calibration, (str, os.PathLike)) else self.calibration
        return [os.fspath(path) for path in paths]


@runtime_checkable
class Runner(Protocol):
    """A model's forward pass on one runtime and precision.

    Called on a float32 batch `(clips, samples)`, it returns the model's outputs by name as numpy arrays
    (`clipwise_output`, and `embedding` or `framewise_output` where the model has them).

    Example:
    ```python
    runner = get_runner(model, "onnxruntime")
    runner(batch)["clipwise_output"].shape  # (len(batch), 527)
    runner.describe()                        # 'onnxruntime float32 (/cache/exports/...onnx)'
    ```
    """

    runtime: str
    precision: str

    def __call__(self, batch):  # pragma: no cover - a protocol
        """The model's outputs for a float32 batch `(clips, samples)`, by name, as numpy arrays."""

    def describe(self):  # pragma: no cover - a protocol
        """One line: the runtime, its precision and what it runs (a file, or how Keras runs).

        Returns:
            str.

        Example:
        ```python
        runner.describe()  # 'openvino float32 (/cache/openvino/.../float32.xml)'
        ```
        """


@dataclasses.dataclass(frozen=True)
class Runtime:
    """One runtime: its name, precisions, the package it needs and the builder of its runners.

    Attributes:
        name: str. What `--runtime` and `runtime=` take.
        precisions: tuple of str. The precisions it runs, float32 first.
        package: str. The module it imports (checked before a cached decision is trusted).
        extra: str. The keras-panns extra that installs that package.
        builder: str. `"module:function"`; the function takes `(model, precision, options, context)` and
            returns a `Runner`.
        in_auto: bool. Whether `runtime="auto"` measures it.
        loader: str or None. `"module:function"` that runs a compiled file of this runtime without the Keras
            model (`compiled.load`'s fast path): it takes `(path, precision, options, model)` with a
            `compiled.CompiledModel`; None for a runtime with no compiled file (Keras).

    Example:
    ```python
    get("litert").missing()  # None when ai_edge_litert is installed, else the message naming the extra
    ```
    """

    name: str
    precisions: tuple
    package: str
    extra: str
    builder: str
    in_auto: bool = False
    loader: str | None = None

    def missing(self):
        """None when the runtime's package is importable here, else the message that says how to install it.

        Example:
        ```python
        get("openvino").missing()  # "runtime 'openvino' needs the openvino package: pip install ..."
        ```
        """
        if importlib.util.find_spec(self.package) is not None:
            return None
        return f"runtime {self.name!r} needs the {self.package} package: pip install 'keras-panns[{self.extra}]'"

    def build(self, model, precision, options, context):
        """A `Runner` of `model` at `precision` on this runtime.

        Args:
            model: a `PANNsModel`.
            precision: str, one of `precisions`.
            options: `RuntimeOptions`.
            context: `BuildContext`: the cache folder, decoded calibration clips and the weights' key.

        Returns:
            `Runner`.

        Raises:
            RuntimeUnavailableError: the package is missing or the precision cannot run here.

        Example:
        ```python
        get("keras").build(model, "float32", RuntimeOptions(), context)
        ```
        """
        if precision not in self.precisions:
            raise RuntimeUnavailableError(self.precision_error(precision))
        try:
            module_name, function = self.builder.split(":")
            build = getattr(importlib.import_module(module_name), function)
        except ImportError as exc:
            raise RuntimeUnavailableError(self.missing() or f"runtime {self.name!r}: {exc}") from exc
        return build(model, precision, options, dataclasses.replace(context, runtime=self.name))

    def load_compiled(self, path, precision, options, model):
        """A `Runner` of the compiled file at `path`, made without Keras (see `compiled`).

        Args:
            path: str. The compiled file (an IR's .xml, an .onnx or a .tflite).
            precision: str. The precision it was compiled at.
            options: `RuntimeOptions` (threads).
            model: `compiled.CompiledModel`.

        Returns:
            `Runner`.

        Raises:
            RuntimeUnavailableError: the runtime has no compiled files.

        Example:
        ```python
        get("openvino").load_compiled("/cache/openvino/k-2025/float32.xml", "float32", RuntimeOptions(), model)
        ```
        """
        if self.loader is None:
            raise RuntimeUnavailableError(f"runtime {self.name!r} has no compiled files to load")
        module_name, function = self.loader.split(":")
        return getattr(importlib.import_module(module_name), function)(path, precision, options, model)

    def precision_error(self, precision):
        """The message for a precision this runtime does not run, naming those that do.

        Example:
        ```python
        get("keras").precision_error("int8")  # "runtime 'keras' runs float32; int8 is offered by ..."
        ```
        """
        offered = [r.name for r in REGISTRY.values() if precision in r.precisions and r.name != self.name]
        where = " or ".join(offered) if offered else "no runtime"
        return f"runtime {self.name!r} runs {' or '.join(self.precisions)}; {precision} is offered by --runtime {where}"


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What `select` has ready when it builds a runner: the cache folder, calibration clips, the weights' key.

    Attributes:
        cache_root: str. The cache folder (compiled files go under it).
        calibration_clips: list of float32 arrays decoded from `RuntimeOptions.calibration` (int8).
        key: str or None. `fingerprint.cache_key(model)` when already computed.
        runtime: str or None. The runtime being built (set by `Runtime.build`, for builders shared by several).

    Example:
    ```python
    BuildContext(cache_root="/tmp/cache", calibration_clips=[], key=None)
    ```
    """

    cache_root: str
    calibration_clips: list = dataclasses.field(default_factory=list)
    key: str | None = None
    runtime: str | None = None


#: Every runtime, by name, in the order `--help` lists them.
REGISTRY: dict = {}


def register(runtime):
    """Adds `runtime` to `REGISTRY` (replacing one of the same name) and returns it.

    Example:
    ```python
    register(Runtime("tensorrt", ("float32",), "tensorrt", "tensorrt", "mypkg.trt_runner:build"))
    ```
    """
    REGISTRY[runtime.name] = runtime
    return runtime


def get(name):
    """The registered `Runtime` called `name`.

    Raises:
        RuntimeUnavailableError: no such runtime (the message names them).

    Example:
    ```python
    get("onnxruntime").extra  # 'export'
    ```
    """
    if name not in REGISTRY:
        raise RuntimeUnavailableError(f"unknown runtime {name!r}; choose from {', '.join(names())}")
    return REGISTRY[name]


def names():
    """What `runtime=` takes: `auto`, then every registered runtime.

    Example:
    ```python
    names()  # ('auto', 'keras', 'openvino', 'onnxruntime', 'litert')
    ```
    """
    return ("auto", *REGISTRY)


def precisions():
    """What `precision=` takes: `auto`, then every precision some runtime runs.

    Example:
    ```python
    precisions()  # ('auto', 'float32', 'bfloat16', 'int8')
    ```
    """
    found = []
    for runtime in REGISTRY.values():
        found += [p for p in runtime.precisions if p not in found]
    return ("auto", *found)


register(Runtime("keras", ("float32",), "keras", "cpu", "keras_panns.runtimes.keras_runner:build", in_auto=True))
register(
    Runtime(
        "openvino",
        ("float32", "bfloat16", "int8"),
        "openvino",
        "openvino",
        "keras_panns.runtimes.openvino_runner:build",
        in_auto=True,
        loader="keras_panns.runtimes.openvino_runner:load_compiled",
    )
)
for _name, _package in (("onnxruntime", "onnxruntime"), ("litert", "ai_edge_litert")):
    register(
        Runtime(
            _name,
            ("float32", "int8"),
            _package,
            "export",
            "keras_panns.runtimes.exported_runner:build",
            loader="keras_panns.runtimes.exported_runner:load_compiled",
        )
    )
