"""Packs audio clips into sharded TFRecords (int16 PCM) for training with keras_panns.data.

Two kinds of input:
- AudioSet: --segments (one or more segment CSVs such as
  balanced_train_segments.csv) and --audio_dir, a directory of downloaded
  clips named Y<YTID>.wav, <YTID>.wav or <YTID>_<start>_<end>.wav (seconds or
  milliseconds; any format soundfile or librosa reads). Labels are the 527
  AudioSet classes.
- Any other dataset: --csv with a header row, a path column and a label
  column (--path_column, --label_column; several labels separated by
  --label_separator). Classes are the sorted unique labels unless
  --label_names gives a file with one name per line.

Every clip is decoded, mixed to mono, resampled to --sample_rate and padded
or trimmed to --clip_seconds, in parallel over --workers processes. A missing,
corrupt or silent file is skipped and listed in <out>/skipped.csv; it never
stops the job. Shards are written under temporary names and renamed when
complete, so an interrupted run can simply be started again: completed
shards are kept. --out may be a local path or a tf.io.gfile URL (gs://...).

Examples:
  keras-panns pack --segments balanced_train_segments.csv --audio_dir audioset/ --out packed/balanced
  keras-panns pack --csv esc10.csv --path_column filename --label_column category --clip_seconds 5 --out packed/esc10
"""

import sys

from absl import app

from keras_panns.cli.common import no_arguments

USAGE = "(--segments CSV... --audio_dir DIR | --csv FILE) --out DIR [--sample_rate 32000] [--clip_seconds 10]"


def define_flags(fv):
    from absl import flags

    flags.DEFINE_list("segments", [], "AudioSet segment CSVs.", flag_values=fv)
    flags.DEFINE_string(
        "audio_dir", None, "Directory of the clips (AudioSet), or base of relative --csv paths.", flag_values=fv
    )
    flags.DEFINE_string("csv", None, "A generic CSV of paths and labels.", flag_values=fv)
    flags.DEFINE_string("path_column", "path", "Column of --csv holding file paths.", flag_values=fv)
    flags.DEFINE_string("label_column", "labels", "Column of --csv holding labels.", flag_values=fv)
    flags.DEFINE_string("label_separator", ";", "Separates several labels in one --csv cell.", flag_values=fv)
    flags.DEFINE_string("label_names", None, "File with one class name per line (class order).", flag_values=fv)
    flags.DEFINE_string("out", None, "Output directory (local or gs://, s3:// with their plugins).", flag_values=fv)
    flags.DEFINE_integer("sample_rate", 32000, "Target sample rate.", lower_bound=1000, flag_values=fv)
    flags.DEFINE_float(
        "clip_seconds",
        10.0,
        "Clip length; shorter clips are zero-padded, longer trimmed.",
        lower_bound=0.1,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "shard_size", 256, "Clips per shard (256 x 10 s at 32 kHz = 164 MB).", lower_bound=1, flag_values=fv
    )
    flags.DEFINE_integer("workers", None, "Worker processes (default: all cores).", lower_bound=1, flag_values=fv)
    flags.DEFINE_boolean("progress", True, "Show a progress bar.", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    flags.register_multi_flags_validator(
        ["segments", "csv"],
        lambda f: bool(f["segments"]) != bool(f["csv"]),
        message="give either --segments (with --audio_dir) or --csv",
        flag_values=fv,
    )


def run(args, fv):
    from keras_panns.data import audioset_examples, generic_examples, pack
    from keras_panns.errors import DataError
    from keras_panns.labels import audioset_labels, audioset_mids

    no_arguments(args)
    if fv.segments and not fv.audio_dir:
        raise app.UsageError("--segments needs --audio_dir")
    try:
        if fv.segments:
            names = audioset_labels()
            examples = [
                e for csv_path in fv.segments for e in audioset_examples(csv_path, fv.audio_dir, audioset_mids())
            ]
            found = sum(e.path is not None for e in examples)
            print(f"{len(examples)} segments listed, {found} clips found under {fv.audio_dir}", file=sys.stderr)
        else:
            given = None
            if fv.label_names:
                with open(fv.label_names, encoding="utf-8") as f:
                    given = [line.strip() for line in f if line.strip()]
            examples, names = generic_examples(
                fv.csv,
                audio_dir=fv.audio_dir,
                path_column=fv.path_column,
                label_column=fv.label_column,
                label_names=given,
                separator=fv.label_separator,
            )
        manifest = pack(
            examples,
            fv.out,
            label_names=names,
            sample_rate=fv.sample_rate,
            clip_seconds=fv.clip_seconds,
            shard_size=fv.shard_size,
            workers=fv.workers,
            progress=fv.progress,
        )
    except OSError as exc:  # a missing CSV or an unwritable --out, reported like the data errors
        raise DataError(str(exc)) from exc
    print(
        f"packed {manifest['num_examples']} clips into {len(manifest['shards'])} shards in {fv.out}; "
        f"skipped {manifest['num_skipped']} (see {fv.out}/skipped.csv)"
    )
    return 0
