"""Where a model's forward pass runs: Keras (XLA on TensorFlow), OpenVINO, onnxruntime or LiteRT.

Example:
```python
from keras_panns.runtimes import runner_for
runner = runner_for(model, "auto")              # the fastest path that agrees with Keras float32
runner(batch)["clipwise_output"]
```
"""

from keras_panns.runtimes.select import (
    MAX_ABS_DELTA,
    PRECISIONS,
    RUNTIMES,
    Choice,
    choose,
    decide,
    resolve,
    runner_for,
)

__all__ = ["MAX_ABS_DELTA", "PRECISIONS", "RUNTIMES", "Choice", "choose", "decide", "resolve", "runner_for"]
