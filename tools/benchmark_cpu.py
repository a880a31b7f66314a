"""CPU inference speed of every runtime x precision, against PyTorch eager float32, with the CPU's peak.

Each row runs in its own process (runtimes and oneDNN settle their thread pools and kernels at import) on
golden-fixture weights (`keras_panns.testing.golden`, heads spread so int8 agreement means something) and
10-s clips, timing the median of `--repeats` calls after a warm-up. Rows:

- `torch`: PyTorch eager float32 (panns-inference's Cnn14 under `torch.no_grad`; it ships no Cnn6 or
  MobileNetV1, so those models have no PyTorch row and their ratios are against Keras predict_on_batch);
- `keras_eager`: `model.predict_on_batch`, the default of every path before `keras_panns.runtimes`;
- `keras float32`, `openvino float32|bfloat16|int8`, `onnxruntime|litert float32`: `runtimes.get_runner`,
  exactly what `--runtime X --precision Y` runs (int8 calibrated on `--calibration` audio).

For each row: clips/s, the ratio to PyTorch (or Keras predict_on_batch) in the same run, the model's
GFLOP per clip (2 x the multiply-adds of every Convolution and MatMul in its OpenVINO graph at that
shape), the achieved GFLOP/s and its fraction of the peak of that precision on the cores used
(`keras_panns.runtimes.cpu.peak_gflops`: FLOP per cycle per core of the unit that precision runs on x the
`cpu MHz` clock x cores). Agreement with Keras float32 (max |score difference| and top-5 set, over the
golden clips and `--calibration` audio) is printed for each path.

Example:
  python tools/benchmark_cpu.py --models Cnn14,Cnn6,MobileNetV1 --batches 1,8 \
      --calibration ../shared/data/esc10/audio --out benchmarks/cpu.json
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

MODELS = flags.DEFINE_list("models", ["Cnn14", "Cnn6", "MobileNetV1"], "Architectures (golden fixture names).")
BATCHES = flags.DEFINE_list("batches", ["1", "8"], "Batch sizes.")
PATHS = flags.DEFINE_list(
    "paths",
    [
        "torch",
        "keras_eager",
        "keras:float32",
        "openvino:float32",
        "openvino:bfloat16",
        "openvino:int8",
        "onnxruntime:float32",
        "litert:float32",
    ],
    "Rows: torch, keras_eager, or runtime:precision as --runtime/--precision take them.",
)
CALIBRATION = flags.DEFINE_string(
    "calibration",
    None,
    "Directory of audio for int8 calibration and agreement (default ../shared/data/esc10/audio, 16 files).",
)
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per row.")
OUT = flags.DEFINE_string("out", None, "Also write the rows as JSON here (and a Markdown table beside it).")
WORKER = flags.DEFINE_string("worker", None, "Internal: one row as JSON.")
SAMPLE_RATE = 32000


def _clip(batch):
    return np.random.RandomState(0).uniform(-0.5, 0.5, (batch, 10 * SAMPLE_RATE)).astype(np.float32)


def _median_rate(run, batch, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def _calibration_files():
    folder = CALIBRATION.value or os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "esc10", "audio"
    )
    return sorted(glob.glob(os.path.join(folder, "*.wav")))[:16]


def gflop_per_clip(ov_model):
    """2 x multiply-adds of the Convolution, GroupConvolution and MatMul nodes of a static-shape OpenVINO model."""
    macs = 0
    for op in ov_model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in ("Convolution", "GroupConvolution"):
            out = list(op.get_output_shape(0))
            weights = list(op.input(1).get_shape())
            # Convolution weights: (C_out, C_in, k...); GroupConvolution: (groups, C_out/g, C_in/g, k...)
            per_output = int(np.prod(weights[1:])) if kind == "Convolution" else int(np.prod(weights[2:]))
            macs += int(np.prod(out)) * per_output
        elif kind == "MatMul":
            a = list(op.input(0).get_shape())
            k = a[-2] if op.get_transpose_a() else a[-1]
            macs += int(np.prod(list(op.get_output_shape(0)))) * int(k)
    return 2 * macs / 1e9 / int(ov_model.inputs[0].get_shape()[0])


def _worker(config):
    batch = config["batch"]
    x = _clip(batch)
    if config["path"] == "torch":
        import torch

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from reference_models import reference_cnn14

        from keras_panns.testing import golden

        model = reference_cnn14()
        own = {
            k: v.numpy()
            for k, v in model.state_dict().items()
            if k.startswith(("spectrogram_extractor.", "logmel_extractor."))
        }
        state = golden.synthetic_state_dict(golden.load_spec("Cnn14"), own)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        tensor = torch.from_numpy(x)

        def run():
            with torch.no_grad():
                model(tensor)

        return {"rate": _median_rate(run, batch, config["repeats"]), "threads": torch.get_num_threads()}
    from keras_panns.runtimes import get_runner
    from keras_panns.runtimes.select import agreement
    from keras_panns.testing import golden

    model = golden.spread_scores(golden.fixture_model(config["model"]))
    if config["path"] == "keras_eager":
        return {"rate": _median_rate(lambda: model.predict_on_batch(x), batch, config["repeats"])}
    runtime, precision = config["path"].split(":")
    calibration = config["calibration"] if precision == "int8" else None
    started = time.perf_counter()
    runner = get_runner(model, runtime, precision, cache_dir=config["cache"], calibration=calibration)
    build = time.perf_counter() - started
    rate = _median_rate(lambda: runner(x), batch, config["repeats"])
    from keras_panns.audio import load_audio

    audio = [load_audio(f, SAMPLE_RATE) for f in config["calibration"][-6:]]
    audio += [w for w in golden.load_inputs(SAMPLE_RATE).values() if len(w) >= model.min_samples][:4]
    reference = [model.predict_on_batch(w[None]) for w in audio]
    worst, same = agreement(reference, [runner(w[None]) for w in audio])
    result = {"rate": rate, "build_s": build, "max_abs_delta": worst, "top5_equal": same}
    if config["batch"] == 1 and runtime == "openvino":
        result["gflop"] = gflop_per_clip(_static_model(runner, x.shape))
    return result


def _static_model(runner, shape):
    model = runner._ov_model.clone()
    model.reshape({0: list(shape)})
    return model


def _measure(config):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, __file__, f"--worker={json.dumps(config)}"], capture_output=True, text=True, env=env
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(lines[-1])


def _precision(path):
    return "float32" if path in ("torch", "keras_eager") else path.split(":")[1]


def main(argv):
    del argv
    if WORKER.value:
        print(json.dumps(_worker(json.loads(WORKER.value))))
        return
    from keras_panns.runtimes import cpu
    from keras_panns.runtimes.threads import available_cores

    cores = available_cores()
    print(f"CPU: {cpu.describe()}")
    peaks = {p: cpu.peak_gflops(p, cores) for p in ("float32", "bfloat16", "int8")}
    print(
        "peak GFLOP/s on these cores: "
        + ", ".join(f"{p} {v:.0f}" if v else f"{p} unknown" for p, v in peaks.items())
        + f" (bfloat16 unit: {cpu.bfloat16_unit() or 'none'}, int8 unit: {cpu.int8_unit() or 'none'})"
    )
    calibration = _calibration_files()
    cache = tempfile.mkdtemp(prefix="keras_panns_cpu_bench_")
    rows = []
    header = (
        f"{'model':<12} {'batch':>5} {'path':<20} {'clips/s':>8} {'ratio':>7} {'vs':<7} {'GFLOP/s':>8} "
        f"{'of peak':>7} {'max|d|':>7} {'top-5':>6} {'build s':>7}"
    )
    print(header, flush=True)
    for name in MODELS.value:
        measured = []
        for batch in map(int, BATCHES.value):
            for path in PATHS.value:
                if path == "torch" and name != "Cnn14":
                    continue
                result = _measure(
                    {
                        "model": name,
                        "batch": batch,
                        "path": path,
                        "repeats": REPEATS.value,
                        "calibration": calibration,
                        "cache": cache,
                    }
                )
                measured.append({"model": name, "batch": batch, "path": path, **result})
                print(f"  measured {name} batch {batch} {path}", file=sys.stderr, flush=True)
        gflop = next((r["gflop"] for r in measured if r.get("gflop")), None)
        for batch in map(int, BATCHES.value):
            baseline, versus = None, None
            for row in (r for r in measured if r["batch"] == batch):
                rows.append(row)
                path = row["path"]
                if "error" in row:
                    print(f"{name:<12} {batch:>5} {path:<20} unavailable: {row['error']}", flush=True)
                    continue
                if baseline is None:
                    baseline, versus = row["rate"], "torch" if path == "torch" else "keras_eager"
                row["ratio"], row["versus"], row["gflop"] = row["rate"] / baseline, versus, gflop
                peak = peaks[_precision(path)]
                achieved = gflop * row["rate"] if gflop else None
                row["gflops"] = achieved
                row["peak_fraction"] = achieved / peak if achieved and peak else None
                print(
                    f"{name:<12} {batch:>5} {path:<20} {row['rate']:8.2f} {row['ratio']:6.2f}x {versus:<7} "
                    f"{achieved or float('nan'):8.0f} {row['peak_fraction'] or float('nan'):7.1%} "
                    f"{row.get('max_abs_delta', float('nan')):7.4f} "
                    f"{('same' if row.get('top5_equal') else 'differs') if 'top5_equal' in row else '':>6} "
                    f"{row.get('build_s', float('nan')):7.1f}",
                    flush=True,
                )
        print(f"{name}: {gflop or float('nan'):.1f} GFLOP per 10-s clip", flush=True)
    if OUT.value:
        report = {"cpu": cpu.describe(), "peaks_gflops": peaks, "rows": rows}
        with open(OUT.value, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write(
                f"CPU: {cpu.describe()}\n\n| model | batch | path | clips/s | ratio | GFLOP/s | of peak | "
                "max abs delta | top-5 |\n|---|---|---|---|---|---|---|---|---|\n"
            )
            for r in rows:
                if "error" in r:
                    f.write(f"| {r['model']} | {r['batch']} | {r['path']} | unavailable | | | | | |\n")
                    continue
                f.write(
                    f"| {r['model']} | {r['batch']} | {r['path']} | {r['rate']:.2f} | {r['ratio']:.2f}x vs "
                    f"{r['versus']} | {r['gflops'] or 0:.0f} | {(r['peak_fraction'] or 0):.1%} | "
                    f"{r.get('max_abs_delta', float('nan')):.4f} | "
                    f"{'same' if r.get('top5_equal') else ('differs' if 'top5_equal' in r else '')} |\n"
                )


if __name__ == "__main__":
    app.run(main)
