"""The PyTorch reference models the benchmarks measure against (panns-inference, the `bench` extra)."""

import os
import pathlib
import tempfile

CNN14_32K = {"sample_rate": 32000, "window_size": 1024, "hop_size": 320, "mel_bins": 64, "fmin": 50, "fmax": 14000}


def reference_cnn14(**front_end):
    """panns_inference's Cnn14 (32-kHz front end unless `front_end` says otherwise), without its wget of the labels."""
    import torch

    home = pathlib.Path(tempfile.mkdtemp(prefix="panns_home_"))
    (home / "panns_data").mkdir()
    labels = pathlib.Path(__file__).resolve().parents[1] / "keras_panns" / "assets" / "audioset_labels.csv"
    (home / "panns_data" / "class_labels_indices.csv").write_text(labels.read_text())
    os.environ["HOME"] = str(home)
    from panns_inference.models import Cnn14

    torch.manual_seed(0)
    model = Cnn14(**{**CNN14_32K, **front_end}, classes_num=527).eval()
    # Non-trivial BatchNorm statistics, so parity is checked on a realistic network.
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                buf.uniform_(-0.1, 0.1)
        model.bn0.running_mean.uniform_(-25, -15)
        model.bn0.running_var.uniform_(60, 120)
    return model
