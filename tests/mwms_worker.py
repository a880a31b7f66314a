"""One worker of the MultiWorkerMirroredStrategy test (run by test_distributed.py)."""

import json
import os
import sys

index, ports, data, out = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps(
    {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
)

import numpy as np  # noqa: E402

from keras_panns.training import TrainConfig, train  # noqa: E402

TINY = {"window_size": 256, "hop_size": 80, "fmax": 4000, "mel_bins": 32, "embedding_size": 64}
summary = train(
    TrainConfig(
        model="Cnn6",
        train_dir=data,
        out_dir=os.path.join(out, "run"),
        steps=4,
        steps_per_epoch=2,
        batch_size=8,
        mixup_alpha=1.0,
        verbose=0,
        model_kwargs=TINY,
        strategy="auto",
        seed=1,
    )
)
model = summary["model"]
np.savez(
    os.path.join(out, f"worker{index}.npz"),
    steps=int(summary["fit_model"].optimizer.iterations.numpy()),
    **{w.path: np.asarray(w) for w in model.weights},
)
