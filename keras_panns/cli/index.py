"""Indexes a whole archive (10^3 to 10^7 files) on Ray Data into Parquet tables: tags, scores, embeddings, events.

Every audio file under the sources (directories, globs, files, .txt/.csv
lists of paths, s3://bucket/prefix URLs) is cut into the windows of
`keras-panns tag`'s long-audio path (--window, --hop) and run through the
model. Decoding and resampling run as Ray CPU tasks, long files in segments
in parallel; the model runs in --model_workers actors, on the same runtimes
as the other commands (--runtime, --precision). Memory stays flat whatever
the archive's size.

The index (--out) is plain Parquet that pandas, DuckDB, Polars and Spark read
as it is: files/ (path, size, mtime, duration, sample_rate, channels,
windows, status), windows/ (path, window, start, end, top_labels,
top_scores, and with --outputs scores/embeddings the 527 scores and the
embedding), events/ (path, label, class_index, onset, offset, score; SED
models), errors/ (path, reason, error), and manifest.json (package, model,
weights sha256, window, hop, front end, runtime).

Resume: run the same command again. Files already committed (same path,
size and mtime) are skipped before decoding; a file whose size or mtime
changed since is indexed anew and its old rows retired, so each file is in
the index once; another model, weights, window, hop or outputs is refused,
naming what differs. Files that cannot be used
(missing, empty, unreadable, NaN, too short) land in errors/ and the exit
status is 1; all others are indexed.

Without --address, a local Ray is started for the job on this machine's
cores, every socket on 127.0.0.1 and no dashboard, and stopped at the end.
--address (or $RAY_ADDRESS) runs on an existing cluster; every node needs
the same keras-panns installed. S3: --s3_endpoint or $AWS_ENDPOINT_URL, with
the usual AWS_* credentials.

Examples:
  keras-panns index --out archive.index /data/archive/
  keras-panns index --outputs tags,embeddings --model cnn14 --out lib.index sounds.csv
  keras-panns index --model cnn14_decision_level_max --outputs tags,events --out field.index s3://bucket/field/
  keras-panns index --address 10.0.0.5:6379 --model_workers 8 --out /shared/archive.index /shared/archive/
"""

import sys

from absl import app

from keras_panns.cli.common import (
    define_event_flags,
    define_model_flags,
    define_out_flag,
    define_runtime_flags,
    event_points,
    frame_scoring_model,
    load_model,
)

USAGE = "--out INDEX [--outputs tags,scores,embeddings,events] [--model NAME] [--address HOST:PORT] SOURCE..."


def define_flags(fv):
    from absl import flags

    from keras_panns.archive import schema
    from keras_panns.archive.indexer import OUTPUTS

    define_model_flags(fv, "cnn14", "Zoo name of the model (a SED model such as cnn14_decision_level_max for events).")
    define_runtime_flags(fv)
    define_out_flag(fv, "The index directory (created; an existing index is resumed).", required=True)
    flags.DEFINE_list(
        "outputs",
        ["tags"],
        schema.outputs_help() + " Every table and column: docs/archive.md.",
        flag_values=fv,
    )
    flags.register_validator(
        "outputs",
        lambda values: bool(values) and set(values) <= set(OUTPUTS),
        message=f"--outputs takes {', '.join(OUTPUTS)}",
        flag_values=fv,
    )
    flags.DEFINE_float("window", 10.0, "Window length in seconds.", lower_bound=0.5, flag_values=fv)
    flags.DEFINE_float("hop", 5.0, "Step between windows in seconds.", lower_bound=0.01, flag_values=fv)
    flags.DEFINE_integer("top_k", 5, "Tags kept per window.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", 8, "Windows per forward pass.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer(
        "model_workers",
        1,
        "Model actors (each holds a copy of the model; on a machine with GPUs, one GPU each with --gpus_per_worker 1).",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_float("gpus_per_worker", 0, "GPUs per model actor.", lower_bound=0, flag_values=fv)
    flags.DEFINE_string(
        "address",
        None,
        "A Ray cluster to run on (host:port or auto; default $RAY_ADDRESS, "
        "else a local Ray on 127.0.0.1 for this job).",
        flag_values=fv,
    )
    flags.DEFINE_integer("cpus", None, "CPUs of the local Ray (default: all).", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("recursive", True, "Directories include their subdirectories.", flag_values=fv)
    flags.DEFINE_string(
        "s3_endpoint", None, "Endpoint URL of s3:// sources (default $AWS_ENDPOINT_URL).", flag_values=fv
    )
    flags.DEFINE_integer(
        "segment_windows",
        32,
        "Windows per decoding task: a longer file is decoded by several tasks in parallel.",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "commit_every",
        64,
        "Commit the tables after this many finished files (or 30 s): what a crash can cost.",
        lower_bound=1,
        flag_values=fv,
    )
    define_event_flags(fv)  # with --outputs events
    flags.DEFINE_boolean(
        "progress", None, "A progress bar of files and audio hours (default: on a terminal).", flag_values=fv
    )


def run(args, fv):
    from keras_panns.archive import index_archive

    if not args:
        raise app.UsageError("no sources given (directories, globs, lists of paths or s3:// URLs)")
    spec, resources = job_description(fv)
    # The model is loaded only when there is work: the same command over a finished index is answered from
    # the index alone.
    summary = index_archive(args, fv.out, lambda: _model(fv), spec, resources, model_source=fv.checkpoint or fv.model)
    if fv.verbose:
        print(f"keras-panns index: the model ran on {summary.runtime}", file=sys.stderr)
    print(summary)
    if summary.failed:
        print(
            f"keras-panns index: {summary.failed} of {summary.files} files failed; "
            f"their reasons are in {fv.out}/errors",
            file=sys.stderr,
        )
    return 1 if summary.failed else 0


def job_description(fv):
    """`(IndexSpec, JobResources)` from the flags: what the index holds, and how the job runs.

    Example:
    ```python
    spec, resources = job_description(flags.FLAGS)
    ```
    """
    from keras_panns.archive.spec import IndexSpec, JobResources

    if fv.operating_points and "events" not in fv.outputs:
        raise app.UsageError("--operating_points sets each class's event high and low: add events to --outputs")
    points = event_points(fv)[1]
    spec = IndexSpec(
        outputs=tuple(fv.outputs),
        window_seconds=fv.window,
        hop_seconds=fv.hop,
        top_k=fv.top_k,
        high=fv.high,
        low=fv.low,
        median_window=fv.median,
        min_duration=fv.min_duration,
        event_points=tuple(points),
        runtime=fv.runtime,
        precision=fv.precision,
    )
    resources = JobResources(
        batch_size=fv.batch_size,
        model_workers=fv.model_workers,
        gpus_per_worker=fv.gpus_per_worker,
        address=fv.address,
        num_cpus=fv.cpus,
        segment_windows=fv.segment_windows,
        commit_every=fv.commit_every,
        progress=fv.progress,
        calibration=fv.calibration or None,
        cache_dir=fv.cache_dir,
        recursive=fv.recursive,
        s3_endpoint=fv.s3_endpoint,
    )
    return spec, resources


def _model(fv):
    model = load_model(fv)
    model = frame_scoring_model(model, "index") if "events" in fv.outputs else model
    event_points(fv, model)  # the points must be this model's
    return model
