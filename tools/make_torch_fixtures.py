"""Writes the small PyTorch checkpoint fixtures of the reader tests (needs torch).

Both container formats are written from the same state dict: the zip archive
of torch >= 1.6 and the legacy pickle stream that the official PANNs files
use. The tensors cover the cases the reader must handle: float32 weights, an
int64 `num_batches_tracked` scalar, a non-contiguous (transposed) tensor, a
view with a storage offset, float16/bfloat16, and the PANNs checkpoint layout
`{"iteration", "model"}`.

Usage:
  python tools/make_torch_fixtures.py --out tests/data/torch
"""

import collections
import os

import torch
from absl import app, flags

flags.DEFINE_string("out", "tests/data/torch", "Output folder.")
FLAGS = flags.FLAGS


def fixture_state_dict():
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 8 - 1
    return collections.OrderedDict(
        [
            ("conv.weight", base),
            ("bn.num_batches_tracked", torch.tensor(7)),
            ("fc.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3).t()),  # strides (1, 3)
            ("fc.bias", torch.arange(10, dtype=torch.float32)[3:6]),  # storage offset 3
            ("half", torch.tensor([0.5, -2.0], dtype=torch.float16)),
            ("bf16", torch.tensor([1.5, -3.0], dtype=torch.bfloat16)),
        ]
    )


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    checkpoint = {"iteration": 1000, "model": fixture_state_dict()}
    torch.save(checkpoint, os.path.join(FLAGS.out, "tiny_zip.pth"))
    torch.save(checkpoint, os.path.join(FLAGS.out, "tiny_legacy.pth"), _use_new_zipfile_serialization=False)
    print(f"wrote {FLAGS.out}/tiny_zip.pth and tiny_legacy.pth with torch {torch.__version__}")


if __name__ == "__main__":
    app.run(main)
