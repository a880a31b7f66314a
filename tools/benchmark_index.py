"""Archive indexing (`keras-panns index` on its local Ray) against `keras-panns tag` and the sum of its parts.

For each model, over the same `--files` audio files of mixed formats and rates
(made from ESC-10: wav 44.1 kHz stereo, flac 48 kHz, mp3 44.1 kHz, ogg 32 kHz,
wav 16 kHz; 5-s clips, one window each), every figure from this one run:

- `index`: `keras-panns index` as a user runs it (a fresh process that starts
  and stops its own Ray on all cores): clips/s over its wall time;
- `tag`: `keras-panns tag` over the same files in one process (its batches of
  equal-length clips): clips/s over its wall time (ratio (a) = index / tag);
- `parts`: the decode of every file exactly as the index's tasks do it
  (`archive.stages.plan_segments` + `decode_segment`, one process, one core)
  plus the model alone on decoded windows (`runtimes.get_runner`, `--batch_size`,
  timed on `--sample_windows` windows and scaled to all): clips/s of their
  summed time (ratio (b) = index / parts; the index may exceed 1.0 because it
  decodes while the model runs);
- `rerun`: the same index command over the finished index (everything skipped),
  as a fraction of the first run's time.

Memory: `keras-panns index` over `--memory_files` 1-s wav files (1-s windows,
`--memory_model`), the peak of the summed PSS (proportional set size, which
counts Ray's shared object store once) of the command and every process it
starts, sampled every 0.2 s. The model's weights are the golden fixtures'
(`keras_panns.testing.golden`): the same architecture and arithmetic as the
official checkpoints, which cannot be downloaded here.

Example:
  python tools/benchmark_index.py --models Cnn6,Cnn14 --files 2000 --memory_files 1000,10000 \\
      --work /tmp/index_bench --out benchmarks/index_xeon_2core.json
"""

import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

MODELS = flags.DEFINE_list("models", ["Cnn6", "Cnn14"], "Architectures (golden fixture names).")
FILES = flags.DEFINE_integer("files", 2000, "Files of the speed corpus (5 formats/rates x ESC-10 clips).")
MEMORY_FILES = flags.DEFINE_list("memory_files", ["1000", "10000"], "Archive sizes for the peak memory figure.")
MEMORY_MODEL = flags.DEFINE_string("memory_model", "Cnn6", "Architecture of the memory runs.")
RUNTIME = flags.DEFINE_string("runtime", "keras", "--runtime of both commands and the model-alone figure.")
PRECISION = flags.DEFINE_string("precision", "float32", "--precision of both commands.")
BATCH = flags.DEFINE_integer("batch_size", 8, "--batch_size of both commands.")
SAMPLE_WINDOWS = flags.DEFINE_integer("sample_windows", 160, "Windows the model alone is timed on.")
WORK = flags.DEFINE_string("work", "/tmp/keras_panns_index_bench", "Corpus, presets and indexes (kept for reuse).")
ESC10 = flags.DEFINE_string("esc10", None, "ESC-10 audio directory (default ../shared/data/esc10/audio).")
OUT = flags.DEFINE_string("out", None, "Also write the results as JSON here (and a Markdown table beside it).")
WORKER = flags.DEFINE_string("worker", None, "Internal: the parts figure of this model, as JSON.")
CORPUS = flags.DEFINE_enum(
    "corpus",
    "esc10",
    ["esc10", "synthetic"],
    "Audio of the speed corpus: ESC-10 clips, or "
    "10-s noise and tone clips written here (a machine without ../shared, a GPU machine).",
)
COMPARE = flags.DEFINE_list("compare", ["rerun", "tag", "parts"], "Figures besides the index run's own.")
TAG_FILES = flags.DEFINE_integer("tag_files", None, "Files `tag` runs on (default all; its rate is per file).")
PARTS_FILES = flags.DEFINE_integer(
    "parts_files",
    None,
    "Files whose decode is timed (evenly spread over the variants) and scaled to all (default all).",
)
MODEL_WORKERS = flags.DEFINE_integer("model_workers", 1, "--model_workers of the index command.")
GPUS = flags.DEFINE_float("gpus_per_worker", 0, "--gpus_per_worker of the index command (1 on a GPU machine).")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (subfolder, format, sample rate, channels)
VARIANTS = [
    ("wav44k_stereo", "WAV", 44100, 2),
    ("flac48k", "FLAC", 48000, 1),
    ("mp3_44k", "MP3", 44100, 1),
    ("ogg32k", "OGG", 32000, 1),
    ("wav16k", "WAV", 16000, 1),
]
EXTENSION = {"WAV": "wav", "FLAC": "flac", "MP3": "mp3", "OGG": "ogg"}


def _esc10():
    folder = ESC10.value or os.path.join(REPO, "..", "shared", "data", "esc10", "audio")
    clips = sorted(glob.glob(os.path.join(folder, "*.wav")))
    if not clips:
        raise app.UsageError(f"no ESC-10 clips in {folder} (--esc10)")
    return clips


def _write_once(folder, count, write):
    """Calls `write(i, folder)` for i < count unless `folder` already holds a finished corpus of `count`."""
    marker = os.path.join(folder, f".done-{count}")
    if os.path.exists(marker):
        return folder
    os.makedirs(folder, exist_ok=True)
    for i in range(count):
        write(i, folder)
    open(marker, "w").close()
    return folder


def speed_corpus(count):
    """`count` files cycling through VARIANTS of the ESC-10 clips (each clip once per variant first)."""
    import librosa
    import soundfile

    clips = _esc10()
    cache = {}

    def write(i, folder):
        clip = clips[i % len(clips)]
        name, fmt, rate, channels = VARIANTS[(i // len(clips)) % len(VARIANTS)]
        if clip not in cache:
            cache.clear()
            cache[clip] = librosa.load(clip, sr=None, mono=True)
        wave, native = cache[clip]
        wave = librosa.resample(wave, orig_sr=native, target_sr=rate) if rate != native else wave
        if channels == 2:
            wave = np.stack([wave, 0.8 * wave], axis=1)
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        path = os.path.join(folder, name, f"{i:06d}.{EXTENSION[fmt]}")
        soundfile.write(path, wave, rate, format=fmt)

    # Written clip by clip (its five variants in a row), so that each clip is decoded once (the cache).
    order = sorted(range(count), key=lambda i: (i % len(clips), i))

    def write_in_order(j, folder):
        write(order[j], folder)

    return _write_once(os.path.join(WORK.value, f"mixed-{count}"), count, write_in_order)


def synthetic_corpus(count):
    """`count` 10-s clips of noise and tones in the VARIANTS' formats, written on all cores (no ESC-10 needed)."""
    import multiprocessing

    folder = os.path.join(WORK.value, f"synthetic-{count}")
    marker = os.path.join(folder, f".done-{count}")
    if not os.path.exists(marker):
        for name, *_ in VARIANTS:
            os.makedirs(os.path.join(folder, name), exist_ok=True)
        with multiprocessing.Pool() as pool:
            pool.starmap(_write_synthetic, [(i, folder) for i in range(count)], chunksize=16)
        open(marker, "w").close()
    return folder


def _write_synthetic(i, folder):
    import soundfile

    name, fmt, rate, channels = VARIANTS[i % len(VARIANTS)]
    rng = np.random.RandomState(i)
    t = np.arange(10 * rate) / rate
    wave = 0.05 * rng.randn(len(t)) + 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
    wave = wave.astype(np.float32)
    if channels == 2:
        wave = np.stack([wave, 0.8 * wave], axis=1)
    soundfile.write(os.path.join(folder, name, f"{i:06d}.{EXTENSION[fmt]}"), wave, rate, format=fmt)


def corpus(count):
    return synthetic_corpus(count) if CORPUS.value == "synthetic" else speed_corpus(count)


def memory_corpus(count):
    """`count` 1-s 32-kHz wav files cut from the ESC-10 clips."""
    import librosa
    import soundfile

    clips = _esc10()
    cache = {}

    def write(i, folder):
        clip = clips[(i // 5) % len(clips)]
        if clip not in cache:
            cache.clear()
            cache[clip] = librosa.load(clip, sr=32000, mono=True)[0]
        piece = cache[clip][(i % 5) * 32000 : (i % 5 + 1) * 32000]
        sub = os.path.join(folder, f"{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        soundfile.write(os.path.join(sub, f"{i:06d}.wav"), np.pad(piece, (0, 32000 - len(piece))), 32000)

    return _write_once(os.path.join(WORK.value, f"short-{count}"), count, write)


def preset(name):
    folder = os.path.join(WORK.value, "presets", name)
    if not os.path.exists(os.path.join(folder, "config.json")):
        import keras_panns
        from keras_panns.testing import golden

        keras_panns.save_preset(golden.fixture_model(name), folder)
    return folder


def _tree_pss(root):
    import psutil

    total = 0
    try:
        processes = [psutil.Process(root)] + psutil.Process(root).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for process in processes:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class _Committed:
    """Files committed to an index so far, from the row counts of its `files/` parts (read once each)."""

    def __init__(self, out):
        self.folder, self.rows = os.path.join(out, "files"), {}

    def __call__(self):
        import pyarrow.parquet as pq

        if os.path.isdir(self.folder):
            for name in os.listdir(self.folder):
                if name.endswith(".parquet") and name not in self.rows:
                    self.rows[name] = pq.read_metadata(os.path.join(self.folder, name)).num_rows
        return sum(self.rows.values())


class _GpuMonitor:
    """GPU utilization and memory sampled through NVML (nvidia-ml-py), where a GPU and the package exist."""

    def __init__(self):
        self.samples, self.handle = [], None  # (seconds, utilization %, memory MiB)
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml, self.handle = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # noqa: BLE001 (no package, no driver or no GPU: nothing is sampled)
            pass

    def sample(self, seconds):
        if self.handle is not None:
            rates = self.nvml.nvmlDeviceGetUtilizationRates(self.handle)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(self.handle)
            self.samples.append((seconds, rates.gpu, memory.used / 2**20))

    def busy(self, start=0.0, end=float("inf")):
        """Mean utilization % between `start` and `end` seconds (None without samples there)."""
        rates = [u for t, u, _ in self.samples if start <= t <= end]
        return sum(rates) / len(rates) if rates else None


class Run:
    """One command's run: its seconds, peak PSS (bytes), stdout, committed-file marks and GPU samples."""

    def __init__(self, seconds, peak, stdout, marks, gpu):
        self.seconds, self.peak, self.stdout, self.marks, self.gpu = seconds, peak, stdout, marks, gpu


def run_command(args, label, committed=None):
    """Runs `keras-panns ARGS` in a fresh process and returns its `Run`.

    With `committed` (a `_Committed`), each rise of the committed files is recorded as `(seconds, files)`
    in the run's `marks` (see `_steady`).
    """
    command = [sys.executable, "-m", "keras_panns.cli.main", *args]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    gpu = _GpuMonitor()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, marks = 0, []
    while process.poll() is None:
        peak = max(peak, _tree_pss(process.pid))
        gpu.sample(time.perf_counter() - started)
        if committed is not None:
            count = committed()
            if count and (not marks or count > marks[-1][1]):
                marks.append((time.perf_counter() - started, count))
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{label} failed ({process.returncode}):\n{stderr[-3000:]}")
    print(f"  {label}: {seconds:.1f} s, peak {peak / 2**20:.0f} MiB", flush=True)
    return Run(seconds, peak, stdout, marks, gpu)


def _steady(marks):
    """(files per second from the first committed part to the last, seconds to the first part).

    The rate leaves out the job's start (Ray, the model's actor) and end.
    """
    (start, first), (end, last) = marks[0], marks[-1]
    return ((last - first) / (end - start) if end > start else float("nan")), start


def _common(name):
    return [
        "--checkpoint",
        preset(name),
        "--runtime",
        RUNTIME.value,
        "--precision",
        PRECISION.value,
        "--batch_size",
        str(BATCH.value),
    ]


def parts(name, folder):
    """Decode time of every file (as the index's tasks) and the model's time alone, scaled to all windows."""
    from keras_panns.archive import stages
    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel
    from keras_panns.runtimes import get_runner

    model = loaders.load(PANNsModel, preset(name))
    settings = stages.Settings(model.name, model.sample_rate, int(model.min_samples), 10.0, 5.0, 1, 32, ("tags",))
    every = sorted(glob.glob(os.path.join(folder, "*", "*.*")))
    step = max(1, len(every) // PARTS_FILES.value) if PARTS_FILES.value else 1
    paths = sorted(every[::step], key=lambda path: os.path.basename(path))  # the variants interleaved
    sample, windows = [], 0
    started = time.perf_counter()
    for path in paths:
        stat = os.stat(path)
        entry = {"path": path, "size": stat.st_size, "mtime": stat.st_mtime}
        for segment in stages.plan_segments(entry, settings):
            for row in stages.decode_segment(segment, settings):
                if row["error_reason"]:
                    raise RuntimeError(row["error_reason"])
                windows += 1
                if len(sample) < SAMPLE_WINDOWS.value:
                    sample.append(np.frombuffer(row["wave"], np.float32))
    decode = (time.perf_counter() - started) * len(every) / len(paths)
    windows = round(windows * len(every) / len(paths))
    runner = get_runner(model, RUNTIME.value, PRECISION.value)
    batch = BATCH.value
    sample = np.stack(sample)
    runner(sample[:batch])  # warm-up (and the XLA compilation of a shape that comes again)
    runner(sample[:batch])
    started = time.perf_counter()
    for i in range(0, len(sample) - batch + 1, batch):
        runner(sample[i : i + batch])
    timed = (len(sample) // batch) * batch
    model_seconds = (time.perf_counter() - started) / timed * windows
    return {
        "decode_s": decode,
        "model_s": model_seconds,
        "windows": windows,
        "model_timed_windows": timed,
        "decode_timed_files": len(paths),
        "runner": f"{runner.runtime} {runner.precision}",
        "model_clips_s": windows / model_seconds,
    }


def _index_args(name, out, folder):
    return [
        "index",
        *_common(name),
        "--noprogress",
        "--model_workers",
        str(MODEL_WORKERS.value),
        "--gpus_per_worker",
        str(GPUS.value),
        "--out",
        out,
        folder,
    ]


def speed(name, folder, files):
    """The index run and, as `--compare` asks, its rerun, `tag` and the parts, as one row of figures."""
    print(f"{name}: {files} files", flush=True)
    out = os.path.join(WORK.value, "indexes", f"{name}-{files}")
    subprocess.run(["rm", "-rf", out], check=True)
    index = run_command(_index_args(name, out, folder), "index", _Committed(out))
    steady, first_part = _steady(index.marks)
    row = {
        "model": name,
        "files": files,
        "index_s": index.seconds,
        "index_clips_s": files / index.seconds,
        "index_first_part_s": first_part,
        "index_steady_clips_s": steady,
        "index_peak_mib": index.peak / 2**20,
        "summary": index.stdout.strip(),
    }
    if index.gpu.samples:
        row.update(
            gpu_busy_pct=index.gpu.busy(),
            gpu_busy_steady_pct=index.gpu.busy(*_steady_span(index.marks)),
            gpu_memory_mib=max(m for _, _, m in index.gpu.samples),
        )
    if "rerun" in COMPARE.value:
        rerun = run_command(_index_args(name, out, folder), "rerun")
        assert f"{files} already indexed" in rerun.stdout, rerun.stdout
        row.update(rerun_s=rerun.seconds, rerun_fraction=rerun.seconds / index.seconds)
    if "tag" in COMPARE.value:
        paths = sorted(glob.glob(os.path.join(folder, "*", "*.*")))
        chosen = paths[:: max(1, len(paths) // TAG_FILES.value)][: TAG_FILES.value] if TAG_FILES.value else [folder]
        tagged = len(chosen) if TAG_FILES.value else files
        tag = run_command(
            [
                "tag",
                *_common(name),
                "--recursive",
                "--format",
                "json",
                "--out",
                os.path.join(WORK.value, f"tags-{name}.json"),
                *chosen,
            ],
            "tag",
        )
        start = run_command(["tag", *_common(name), paths[0]], "tag of one file").seconds
        row.update(
            tag_files=tagged,
            tag_s=tag.seconds,
            tag_clips_s=tagged / tag.seconds,
            tag_steady_clips_s=tagged / (tag.seconds - start),
            tag_peak_mib=tag.peak / 2**20,
            vs_tag=(files / index.seconds) / (tagged / tag.seconds),
        )
    if "parts" in COMPARE.value:
        part = _parts_in_own_process(name, files)
        parts_s = part["decode_s"] + part["model_s"]
        print(f"  parts: decode {part['decode_s']:.1f} s + model {part['model_s']:.1f} s", flush=True)
        row.update(
            windows=part["windows"],
            decode_s=part["decode_s"],
            model_s=part["model_s"],
            parts_clips_s=files / parts_s,
            vs_parts=parts_s / index.seconds,
            runner=part["runner"],
            model_alone_clips_s=part["model_clips_s"],
        )
    return row


def _parts_in_own_process(name, files):
    worker = subprocess.run(
        [
            sys.executable,
            __file__,
            f"--worker={name}",
            f"--work={WORK.value}",
            f"--runtime={RUNTIME.value}",
            f"--precision={PRECISION.value}",
            f"--batch_size={BATCH.value}",
            f"--sample_windows={SAMPLE_WINDOWS.value}",
            f"--files={files}",
            f"--corpus={CORPUS.value}",
            f"--parts_files={PARTS_FILES.value or 0}",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if worker.returncode != 0:
        raise RuntimeError(f"parts of {name} failed:\n{worker.stderr[-3000:]}")
    return json.loads(worker.stdout.strip().splitlines()[-1])


def _steady_span(marks):
    return (marks[0][0], marks[-1][0]) if marks else (0.0, float("inf"))


def memory(name, count):
    folder = memory_corpus(count)
    out = os.path.join(WORK.value, "indexes", f"memory-{name}-{count}")
    subprocess.run(["rm", "-rf", out], check=True)
    print(f"memory: {name}, {count} files", flush=True)
    run = run_command(
        ["index", *_common(name), "--noprogress", "--window", "1", "--hop", "1", "--out", out, folder],
        f"index of {count}",
    )
    return {"model": name, "files": count, "seconds": run.seconds, "peak_mib": run.peak / 2**20}


def _cell(row, key, form):
    return form.format(row[key]) if row.get(key) is not None else "-"


def _markdown(result):
    head = (
        f"CPU: {result['cpu']}; {result['cores']} cores; {result['runtime']} {result['precision']}, "
        f"batch {result['batch_size']}"
    )
    if result.get("gpu"):
        head += (
            f"; GPU: {result['gpu']} ({result['model_workers']} model worker(s), "
            f"{result['gpus_per_worker']:g} GPU each)"
        )
    columns = [
        ("model", "model", "{}"),
        ("files", "files", "{}"),
        ("index clips/s", "index_clips_s", "{:.2f}"),
        ("tag clips/s", "tag_clips_s", "{:.2f}"),
        ("(a) index/tag", "vs_tag", "{:.2f}x"),
        ("decode s", "decode_s", "{:.1f}"),
        ("model s", "model_s", "{:.1f}"),
        ("parts clips/s", "parts_clips_s", "{:.2f}"),
        ("(b) index/parts", "vs_parts", "{:.2f}x"),
        ("rerun", "rerun_fraction", "{:.1%}"),
        ("index peak MiB", "index_peak_mib", "{:.0f}"),
        ("tag peak MiB", "tag_peak_mib", "{:.0f}"),
    ]
    steady_columns = [
        ("model", "model", "{}"),
        ("index first part at s", "index_first_part_s", "{:.1f}"),
        ("index steady clips/s", "index_steady_clips_s", "{:.2f}"),
        ("tag steady clips/s", "tag_steady_clips_s", "{:.2f}"),
        ("model alone clips/s", "model_alone_clips_s", "{:.1f}"),
    ]
    if result.get("gpu"):
        steady_columns += [
            ("GPU busy % (whole run)", "gpu_busy_pct", "{:.0f}"),
            ("GPU busy % (steady)", "gpu_busy_steady_pct", "{:.0f}"),
            ("GPU memory MiB", "gpu_memory_mib", "{:.0f}"),
        ]

    def table(cols):
        rows = [f"| {' | '.join(c[0] for c in cols)} |", "|" + "---|" * len(cols)]
        return rows + [f"| {' | '.join(_cell(row, key, form) for _, key, form in cols)} |" for row in result["speed"]]

    lines = [head, ""] + table(columns)
    lines += [
        "",
        "Steady rates (index: first to last committed part; tag: its time less that of tagging one file; "
        "model alone: decoded windows at the batch size, in one process):",
        "",
    ] + table(steady_columns)
    if result["memory"]:
        lines += ["", "| memory: model | files | seconds | peak MiB (PSS, all processes) |", "|---|---|---|---|"]
        lines += [
            f"| {row['model']} | {row['files']} | {row['seconds']:.1f} | {row['peak_mib']:.0f} |"
            for row in result["memory"]
        ]
        first, last = result["memory"][0], result["memory"][-1]
        lines += [
            "",
            f"Peak memory at {last['files']} files is {last['peak_mib'] / first['peak_mib']:.3f}x that "
            f"at {first['files']}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    if WORKER.value:
        print(json.dumps(parts(WORKER.value, corpus(FILES.value))))
        return
    from machine import gpu_name

    from keras_panns.runtimes.cpu import cpu_info

    folder = corpus(FILES.value)
    result = {
        "cpu": cpu_info()[0],
        "cores": os.cpu_count(),
        "runtime": RUNTIME.value,
        "precision": PRECISION.value,
        "batch_size": BATCH.value,
        "corpus": CORPUS.value,
        "gpu": gpu_name(),
        "model_workers": MODEL_WORKERS.value,
        "gpus_per_worker": GPUS.value,
        "backend": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "speed": [],
        "memory": [],
    }
    for name in MODELS.value:
        result["speed"].append(speed(name, folder, FILES.value))
        _save(result)
    for count in sorted(int(c) for c in MEMORY_FILES.value):
        result["memory"].append(memory(MEMORY_MODEL.value, count))
        _save(result)
    print(_markdown(result))


def _save(result):
    """Writes the figures so far (a run cut short keeps each finished model)."""
    if OUT.value:
        with open(OUT.value, "w") as f:
            json.dump(result, f, indent=1)
        with open(os.path.splitext(OUT.value)[0] + ".md", "w") as f:
            f.write(_markdown(result))


if __name__ == "__main__":
    app.run(main)
