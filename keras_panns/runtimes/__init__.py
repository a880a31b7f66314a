"""Where a model's forward pass runs: Keras (XLA on TensorFlow), OpenVINO, onnxruntime or LiteRT.

Two verbs: `get_runner` (build or reuse the runner) and `plan_runtime` (which path it would take,
without building one where it can). The runtimes are declared in `registry.REGISTRY`; one
`RuntimeOptions` carries calibration audio, the cache folder and threads.

Example:
```python
from keras_panns.runtimes import get_runner
runner = get_runner(model, "auto")              # the fastest path that agrees with Keras float32
runner(batch)["clipwise_output"]
```
"""

from keras_panns.runtimes.registry import REGISTRY, Runner, RuntimeOptions
from keras_panns.runtimes.select import (
    MAX_ABS_DELTA,
    PRECISIONS,
    RUNTIMES,
    Choice,
    agreement,
    get_runner,
    plan_runtime,
)

__all__ = [
    "MAX_ABS_DELTA",
    "PRECISIONS",
    "REGISTRY",
    "RUNTIMES",
    "Choice",
    "Runner",
    "RuntimeOptions",
    "agreement",
    "get_runner",
    "plan_runtime",
]
