"""Adds labels to an index made by `keras-panns index`, or writes them out again.

--import FILE reads a label file and adds it to the index's annotations
table as one part: checked whole first (every class one of the model's, with
close names suggested; no span both positive and negative), written
atomically (an interrupted import adds nothing), never twice (the file's
sha256 is its provenance). Paths are matched to the indexed files as given,
else by file name, else by stem (AudioSet's YTID_START names); labels for
files not in the index are kept and listed.

Formats (--format auto tells them apart): a CSV with columns
path,start,end,label[,label_type] (label_type positive, negative or
uncertain; empty start and end label the whole file), a Raven selection
table, AudioSet's strong-label TSV, AudioSet's segments CSV (clip-level),
perch-hoplite's annotations CSV (recording,label,start_offset_s,
end_offset_s,label_type).

--own_classes keeps labels of classes the model lacks as your own (a
cuckoo, a machine's fault), for `keras-panns classify train INDEX` to learn
from; calibrate and evaluate use only the model's classes' labels.

--export FILE writes every label of the index as that CSV, or with --format
hoplite as perch-hoplite's hoplite_annotations.csv (whole-file labels as 0
to the file's duration).

Examples:
  keras-panns label recordings.index --import reviewed.csv
  keras-panns label esc10.index --import audioset_eval_strong.tsv
  keras-panns label field.index --import cuckoo_review.csv --own_classes
  keras-panns label recordings.index --export labels.csv
  keras-panns label recordings.index --export hoplite_annotations.csv --format hoplite
"""

import os
import sys

from absl import app

USAGE = (
    "INDEX (--import FILE [--own_classes] [--format auto|csv|raven|audioset_strong|audioset_segments|hoplite] | "
    "--export FILE [--format csv|hoplite])"
)


def define_flags(fv):
    from absl import flags

    flags.DEFINE_string("import", None, "A label file to add to the index.", flag_values=fv)
    flags.DEFINE_enum(
        "format",
        "auto",
        ["auto", "csv", "raven", "audioset_strong", "audioset_segments", "hoplite"],
        "The label file's format (auto: from its header; with --export, csv unless hoplite).",
        flag_values=fv,
    )
    flags.DEFINE_string("export", None, "Write the index's labels to this CSV.", flag_values=fv)
    flags.DEFINE_boolean("own_classes", False, "--import: keep classes the model lacks as your own (for classify "
                         "train).", flag_values=fv)  # fmt: skip


def run(args, fv):
    from keras_panns.archive.annotations import Annotations
    from keras_panns.archive.label_files import read_label_file, write_label_csv
    from keras_panns.hub.download import file_hashes
    from keras_panns.search import Index

    if len(args) != 1:
        raise app.UsageError("give one INDEX directory" if not args else f"one INDEX only, got {' '.join(args)}")
    source = fv["import"].value
    if (source is None) == (fv.export is None):
        raise app.UsageError("give --import FILE or --export FILE")
    if fv.export and fv.format not in ("auto", "csv", "hoplite"):
        raise app.UsageError(f"--export writes csv or hoplite, not {fv.format}")
    index = Index(args[0])
    annotations = Annotations(index.path, index.labels, files=index.files.path, own_classes=fv.own_classes)
    if fv.export:
        frame = annotations.read()
        files = index.files
        durations = dict(zip(files.path, files.duration))
        write_label_csv(frame, fv.export, "hoplite" if fv.format == "hoplite" else "csv", durations)
        print(f"wrote {fv.export}: {len(frame):,} labels", file=sys.stderr)
        return 0
    frame = read_label_file(source, fv.format)
    provenance = f"{os.path.basename(source)} sha256:{file_hashes(source)[1]}"
    report = annotations.add(frame, provenance)
    print(f"{index.path}: added {report.summary()}", file=sys.stderr)
    return 0
