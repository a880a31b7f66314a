"""Commands as a user runs them: whole processes, start to exit, keras-panns beside panns_inference.

Each case is a fresh process, run `--repeats` times with the cases taking turns (so a slow minute of the
machine hits every case alike); the figures are the median and the spread (min-max) of the wall time and
of the process's own peak resident memory (`os.wait4`'s ru_maxrss: that child alone, not the benchmark).
A wrapper records which ML frameworks each keras-panns process imported (TensorFlow, Keras, JAX, torch,
OpenVINO, Ray).

The model is Cnn14 with the golden fixture weights (`keras_panns.testing.golden`: the same architecture and
arithmetic as the official checkpoint, which cannot be downloaded here), written as an official-format
PyTorch file named `Cnn14_mAP=0.431.pth`, so keras-panns converts it with the zoo card's config exactly as
the published file, and panns_inference loads the same file. The cases:

- `help`: `keras-panns --help`; `models`: `keras-panns models` (the zoo's cards);
- `tag first`: `keras-panns tag --checkpoint Cnn14_mAP=0.431.pth FILE` on an empty cache (conversion,
  runtime choice, compiled file); only once per repeat, each on a cache of its own;
- `tag cached`: the same command once the cache holds the compiled model (the fast path of
  `keras_panns.runtimes.compiled`);
- `panns_inference`: `AudioTagging(checkpoint_path=..., device="cpu").inference(librosa.load(FILE))`
  in a fresh process (`pip install panns-inference torchlibrosa`; its labels file is copied into a home of
  its own, since it would download it);
- with `--exports`: `keras-panns export --format onnx|tflite` of the same checkpoint (time and peak memory).

Example:
  python tools/benchmark_startup.py --repeats 5 --out benchmarks/startup_epyc_2core.json
"""

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

from absl import app, flags

REPEATS = flags.DEFINE_integer("repeats", 5, "Runs of each case (taking turns).")
AUDIO = flags.DEFINE_string("audio", None, "The file to tag (default ../shared/data/examples/R9_ZSCveAHg_7s.wav).")
WORK = flags.DEFINE_string("work", "/tmp/keras_panns_startup_bench", "Checkpoint, caches and homes (made anew).")
EXPORTS = flags.DEFINE_boolean("exports", False, "Also time ONNX and TFLite exports of Cnn14 (minutes, GBs).")
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")
CHECKPOINT = flags.DEFINE_string("write_checkpoint", None, "Internal: write the checkpoint here and exit.")

HEAVY = ("tensorflow", "keras", "jax", "torch", "openvino", "ray")
# Runs keras-panns' main in this process and writes the frameworks it imported to $STARTUP_IMPORTS at exit.
WRAPPER = (
    "import atexit, json, os, sys\n"
    "atexit.register(lambda: open(os.environ['STARTUP_IMPORTS'], 'w').write("
    f"json.dumps([m for m in {HEAVY!r} if m in sys.modules])))\n"
    "from keras_panns.cli.main import main\n"
    "sys.exit(main(['keras-panns'] + sys.argv[1:]))\n"
)
PANNS_INFERENCE = (
    "import sys, librosa\n"
    "from panns_inference import AudioTagging\n"
    "audio, _ = librosa.load(sys.argv[2], sr=32000, mono=True)\n"
    "tagger = AudioTagging(checkpoint_path=sys.argv[1], device='cpu')\n"
    "clipwise, _ = tagger.inference(audio[None, :])\n"
    "print(clipwise.shape)\n"
)


def _repo():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_checkpoint(path):
    """The golden Cnn14 weights as an official PANNs checkpoint (`{"iteration", "model"}`, legacy pickle)."""
    import collections

    import torch

    sys.path.insert(0, _repo())
    from keras_panns.testing import golden

    state = golden.fixture_state_dict("Cnn14")
    model = collections.OrderedDict((key, torch.from_numpy(value.copy())) for key, value in state.items())
    torch.save({"iteration": 0, "model": model}, path, _use_new_zipfile_serialization=False)


def _run(command, env):
    """`(wall seconds, peak RSS MiB, exit status, stderr tail)` of one whole process.

    Linux keeps a process's peak RSS across `exec`, so a child reports at least what this process held when it
    started it: this process stays small (torch, the weights and keras_panns are loaded in children only).
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, process.returncode, stderr[-1500:]


def _cases(work, checkpoint, audio):
    python = sys.executable
    keras_panns = [python, "-c", WRAPPER]
    home = os.path.join(work, "home")
    os.makedirs(os.path.join(home, "panns_data"), exist_ok=True)
    labels = os.path.join(_repo(), "..", "shared", "data", "audioset", "class_labels_indices.csv")
    shutil.copy(labels, os.path.join(home, "panns_data", "class_labels_indices.csv"))
    cases = {
        "help": (keras_panns + ["--help"], None),
        "models": (keras_panns + ["models"], None),
        "tag first": (keras_panns + ["tag", "--checkpoint", checkpoint, audio], "fresh"),
        "tag cached": (keras_panns + ["tag", "--checkpoint", checkpoint, audio], "shared"),
        "panns_inference": ([python, "-c", PANNS_INFERENCE, checkpoint, audio], "home"),
    }
    if EXPORTS.value:
        for fmt in ("onnx", "tflite"):
            out = os.path.join(work, f"cnn14.{fmt}")
            command = keras_panns + ["export", "--checkpoint", checkpoint, "--format", fmt, "--length", "10"]
            cases[f"export {fmt}"] = (command + ["--out", out], "shared")
    return cases, home


def _env(kind, work, home, repeat):
    env = dict(os.environ, STARTUP_IMPORTS=os.path.join(work, "imports.json"))
    env.pop("KERAS_PANNS_RUNTIME", None)  # the commands' own default: auto
    if kind == "fresh":
        env["KERAS_PANNS_CACHE"] = os.path.join(work, f"cache-fresh-{repeat}")
    else:
        env["KERAS_PANNS_CACHE"] = os.path.join(work, "cache")
    if kind == "home":
        env["HOME"] = home
    return env


def _summary(values):
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def main(argv):
    del argv
    if CHECKPOINT.value:
        _write_checkpoint(CHECKPOINT.value)
        return
    work = WORK.value
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    audio = AUDIO.value or os.path.join(_repo(), "..", "shared", "data", "examples", "R9_ZSCveAHg_7s.wav")
    checkpoint = os.path.join(work, "Cnn14_mAP=0.431.pth")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--write_checkpoint", checkpoint], check=True)
    # The CPU's name and its vector and matrix flags (what the kernels of every runtime depend on).
    code = (
        "from keras_panns.runtimes import cpu; name, flags = cpu.cpu_info(); print(name); "
        "print(' '.join(sorted(f for f in flags if f.startswith(('avx', 'amx', 'fma')) or 'vnni' in f)))"
    )
    cpu_name, cpu_flags = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_repo()
    ).stdout.splitlines()[:2]
    cases, home = _cases(work, checkpoint, audio)
    # The cached case needs its cache: one unmeasured run fills it.
    _run(cases["tag cached"][0], _env("shared", work, home, 0))
    measured = {name: {"wall": [], "peak_mib": [], "imports": None} for name in cases}
    for repeat in range(REPEATS.value):
        for name, (command, kind) in cases.items():
            env = _env(kind, work, home, repeat)
            if name.startswith("export"):  # each export writes its file anew
                for path in (command[-1], command[-1] + ".json"):
                    if os.path.exists(path):
                        os.remove(path)
            wall, peak, status, stderr = _run(command, env)
            if status != 0:
                raise SystemExit(f"{name} failed (exit {status}):\n{stderr}")
            record = measured[name]
            record["wall"].append(wall)
            record["peak_mib"].append(peak)
            if command[:2] == [sys.executable, "-c"] and command[2] == WRAPPER:
                with open(env["STARTUP_IMPORTS"], encoding="utf-8") as f:
                    record["imports"] = json.load(f)
            print(f"{name:<16} run {repeat + 1}: {wall:6.2f} s  {peak:7.0f} MiB", flush=True)
    rows = {
        name: {"wall_s": _summary(r["wall"]), "peak_mib": _summary(r["peak_mib"]), "imports": r["imports"]}
        for name, r in measured.items()
    }
    ratio = rows["panns_inference"]["wall_s"]["median"] / rows["tag cached"]["wall_s"]["median"]
    result = {
        "cpu": cpu_name,
        "cpu_flags": cpu_flags,
        "own_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cores": os.cpu_count(),
        "repeats": REPEATS.value,
        "audio": os.path.basename(audio),
        "model": "Cnn14 (golden fixture weights as Cnn14_mAP=0.431.pth)",
        "cases": rows,
        "panns_inference_over_tag_cached": round(ratio, 2),
    }
    print(json.dumps(result, indent=1))
    if OUT.value:
        with open(OUT.value, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        with open(os.path.splitext(OUT.value)[0] + ".md", "w", encoding="utf-8") as f:
            f.write(_markdown(result))


def _markdown(result):
    lines = [
        f"# Start-up: whole processes ({result['cpu']}, {result['cores']} cores, {result['repeats']} runs each)",
        "",
        f"CPU flags: {result['cpu_flags']}.",
        "",
        f"Model: {result['model']}; audio: {result['audio']}. Median (min-max). Peak memory is each process's "
        f"own (ru_maxrss; the benchmark itself held {result['own_peak_mib']} MiB, a floor of every figure).",
        "",
        "| case | wall (s) | peak memory (MiB) | ML frameworks imported |",
        "|---|---|---|---|",
    ]
    for name, row in result["cases"].items():
        wall, peak = row["wall_s"], row["peak_mib"]
        imports = "n/a" if row["imports"] is None else (", ".join(row["imports"]) or "none")
        lines.append(
            f"| {name} | {wall['median']:.2f} ({wall['min']:.2f}-{wall['max']:.2f}) | "
            f"{peak['median']:.0f} ({peak['min']:.0f}-{peak['max']:.0f}) | {imports} |"
        )
    lines += ["", f"panns_inference / keras-panns tag (cached): {result['panns_inference_over_tag_cached']:.2f}x", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main)
