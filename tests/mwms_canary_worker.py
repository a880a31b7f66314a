"""One worker of the multi-worker canary of keras_compat (tests/test_distributed.py): a tiny model fit.

argv: index, comma-separated ports, scenario (`both`, `no_scalar_reduce` or `no_build`).
Prints FIT_OK, or FIT_FAILED and the error.
"""

import json
import os
import sys

index, ports, scenario = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
os.environ["TF_CONFIG"] = json.dumps(
    {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_panns.training import keras_compat  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()
if scenario != "no_scalar_reduce":
    keras_compat.scalar_safe_reduce(strategy)
with strategy.scope():
    waveform = keras.Input((8,))
    model = keras.Model(waveform, keras.layers.Dense(1)(waveform))
    model.compile("adam", "mse")
per_replica = 4
if scenario != "no_build":
    keras_compat.build_train_state_from_shapes(
        model, strategy, (keras.ops.zeros((per_replica, 8)), keras.ops.zeros((per_replica, 1)))
    )
data = tf.data.Dataset.from_tensor_slices((np.ones((64, 8), "float32"), np.ones((64, 1), "float32")))
data = data.batch(2 * per_replica).repeat()
try:
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
    print("FIT_OK", flush=True)
except Exception as exc:  # the canary reports what Keras raised
    print("FIT_FAILED", type(exc).__name__, str(exc)[:2000], flush=True)
