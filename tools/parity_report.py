"""Prints the measured disagreement of every keras_panns model with the
official PyTorch outputs in the golden fixtures (the numbers behind the
README's parity claims; tests/test_parity.py asserts the 1e-4 bounds).

Usage:
  python tools/parity_report.py [--models Cnn14,ResNet22] [--markdown]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

flags.DEFINE_list("models", [], "Fixture model names (default: all cases of tests/parity_cases.py).")
flags.DEFINE_boolean("markdown", False, "Print a Markdown table.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from keras_panns.checkpoint import port_state_dict
    from keras_panns.testing import golden, parity_cases

    names = FLAGS.models or sorted(parity_cases.CNN_CASES)
    if FLAGS.markdown:
        print("| model | max abs clipwise | max abs framewise | max rel embedding |\n|---|---|---|---|")
    for name in names:
        spec = golden.load_spec(name)
        model = parity_cases.build(name, spec)
        port_state_dict(model, golden.fixture_state_dict(name))
        expected = golden.load_outputs(name)
        worst = {}
        for clip, waveform in golden.load_inputs(spec["config"]["sample_rate"]).items():
            if "error" in spec["clips"][clip]:
                continue
            out = model.predict_on_batch(waveform[None])
            for key in out:
                got, ref = np.asarray(out[key])[0], expected[f"{clip}/{key}"]
                err = np.abs(got - ref).max()
                if key == "embedding":
                    err /= np.abs(ref).max()
                worst[key] = max(worst.get(key, 0.0), float(err))
        cells = [f"{worst[k]:.1e}" if k in worst else "-" for k in ("clipwise_output", "framewise_output", "embedding")]
        print(f"| {name} | " + " | ".join(cells) + " |" if FLAGS.markdown else f"{name:<28} " + "  ".join(cells))


if __name__ == "__main__":
    app.run(main)
