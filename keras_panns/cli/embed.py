"""Computes PANNs embeddings of audio files (2048 numbers per clip for Cnn14).

The embedding is the output of the network's fc1 layer, the representation
the paper transfers to other tasks. A file no longer than --window is
embedded in one pass (exactly the reference's embedding); a longer one is cut
into windows of --window seconds every --hop seconds, read from disk one
batch at a time. By default each file gets one row, the mean of its window
embeddings; with --per_window every window gets its own row.

Writes --out (a .npy float32 array, rows x embedding size) and beside it an
index CSV (<out>.csv: row, file, start, end in seconds) that says which file
and window each row is. Files that cannot be read are reported on stderr and
left out of both; the exit status is then 1.

A directory argument means the audio files in it (--recursive: also in its
subdirectories).

Examples:
  keras-panns embed --out embeddings.npy clips/*.wav
  keras-panns embed --recursive --out corpus.npy corpus/
  keras-panns embed --model cnn14_emb512 --per_window --window 5 --hop 5 --out windows.npy lecture.flac
"""

import csv
import sys

import numpy as np
from absl import app

from keras_panns.atomic import atomic_write
from keras_panns.cli.common import (
    audio_arguments,
    compiled_model,
    define_input_flags,
    define_model_flags,
    define_out_flag,
    define_runtime_flags,
    load_model,
    record_compiled,
    report_file_error,
    runtime_runner,
)

USAGE = "[--model NAME | --checkpoint PATH] --out embeddings.npy [--per_window] [--window S] [--hop S] FILE_OR_DIR..."


def define_flags(fv):
    from absl import flags

    define_model_flags(fv, "cnn14", "Zoo name of a tagging model with an embedding.")
    define_input_flags(fv)
    define_runtime_flags(fv)
    define_out_flag(fv, "Output .npy file (an index <out>.csv is written beside it).", endings=(".npy",), required=True)
    flags.DEFINE_boolean("per_window", False, "One row per window instead of one per file.", flag_values=fv)
    flags.DEFINE_float("window", 10.0, "Window length in seconds.", lower_bound=0.5, flag_values=fv)
    flags.DEFINE_float("hop", 10.0, "Step between windows in seconds.", lower_bound=0.01, flag_values=fv)
    flags.DEFINE_integer("batch_size", 4, "Windows per forward pass.", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean(
        "progress", None, "Show a progress bar (default: several files on a terminal).", flag_values=fv
    )


def _save(out, vectors, index):
    # Both files are written whole before either is renamed, so an interrupted run leaves no half-written pair.
    with atomic_write(out, "wb") as f, atomic_write(out + ".csv", newline="") as rows:
        np.save(f, vectors)
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(["row", "file", "start", "end"])
        writer.writerows([i, *entry] for i, entry in enumerate(index))


def run(args, fv):
    from keras_panns.audio import AudioFile
    from keras_panns.errors import PANNsError
    from keras_panns.long_audio import embed_long

    files = audio_arguments(args, fv)
    # A model compiled by an earlier run with these flags (tag's or embed's) runs without Keras.
    found = compiled_model(fv)
    model = found[0] if found else load_model(fv)
    if "embedding" not in model.output:
        raise app.UsageError(f"{model.name} has no embedding output; use a tagging model such as cnn14")
    if found:
        runner = found[1]
    else:
        runner = runtime_runner(model, fv)
        record_compiled(model, runner, fv)
    progress = fv.progress if fv.progress is not None else (len(files) > 1 and sys.stderr.isatty())
    iterator = files
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(files, unit="file", desc="embedding", file=sys.stderr)
    rows, index, failures = [], [], 0
    for path in iterator:
        try:
            audio = AudioFile(path)  # opened (an mp3 decoded) once for the windows and the duration
            starts, vectors = embed_long(
                model, audio, window_seconds=fv.window, hop_seconds=fv.hop, batch_size=fv.batch_size, runtime=runner
            )
            duration = audio.duration
        except PANNsError as exc:
            failures += 1
            report_file_error("embed", path, exc)
            continue
        if fv.per_window:
            rows.append(vectors)
            index += [(path, round(s, 3), round(min(s + fv.window, duration), 3)) for s in starts]
        else:
            rows.append(vectors.mean(axis=0, keepdims=True))
            index.append((path, 0.0, round(duration, 3)))
    if rows:
        _save(fv.out, np.concatenate(rows).astype(np.float32), index)
        print(f"wrote {len(index)} embeddings of size {rows[0].shape[1]} to {fv.out} (index: {fv.out}.csv)")
    if failures:
        print(f"keras-panns embed: {failures} of {len(files)} files failed", file=sys.stderr)
    return 1 if failures else 0
