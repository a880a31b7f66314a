"""Finds sounds in an index made by `keras-panns index`: like a given sound, scored as a label or group, or both.

--like FILE ranks the index's windows by cosine similarity of their
embeddings to that sound (or to its --start..--end seconds), embedded with
the index's own model, window and hop (the index needs --outputs embeddings).
--label NAME (an AudioSet class) or --group NAME (an ontology group such as
Vehicle, scored as its classes' maximum, as `tag --group`) keeps what scores
at least --min_score (from --outputs scores, else the stored top-k tags).
Both together: the windows like FILE among those scored as the label.
--label may also name a class of a head applied to the index (`keras-panns
classify apply`): its stored scores are used (events: --events of apply).

--level windows lists windows; files lists each file's best window (and,
with a label, how many windows and seconds match); events lists sound events
(an index made with --outputs events).

Exact search below 10,000 windows; above, usearch's HNSW graph, built in
INDEX/vectors on the first search and extended when the index grows.

Examples:
  keras-panns search recordings.index --like dog.wav --top 5
  keras-panns search recordings.index --like street.wav --start 12 --end 22 --format csv --out similar.csv
  keras-panns search recordings.index --group Vehicle --min_score 0.4 --level files
  keras-panns search recordings.index --like bark.wav --label Dog --min_score 0.3 --format json
  keras-panns search recordings.index --group Animal --operating_points points.json --level files
  keras-panns search field.index --label cuckoo --level files       # a head's class (classify apply)

--operating_points (from `keras-panns calibrate` on this index's model) gives
each class its own threshold in place of --min_score; a head's class takes
the point on its head's card.
"""

import sys

from absl import app

USAGE = "INDEX [--like FILE [--start S --end E]] [--label NAME | --group NAME] [--min_score X] [--top K]"
FORMATS = ("text", "json", "csv")


def define_flags(fv):
    from absl import flags

    from keras_panns.cli.common import define_operating_points_flag, define_out_flag

    flags.DEFINE_string("like", None, "An audio file: rank by similarity to it.", flag_values=fv)
    flags.DEFINE_float(
        "start", None, "Seconds into --like where the query starts (default 0).", lower_bound=0, flag_values=fv
    )
    flags.DEFINE_float(
        "end", None, "Seconds into --like where the query ends (default: its end).", lower_bound=0, flag_values=fv
    )
    flags.DEFINE_string(
        "label", None, "An AudioSet class (name or mid, e.g. Dog) or an applied head's class.", flag_values=fv
    )
    flags.DEFINE_string("group", None, "An AudioSet ontology group (e.g. Vehicle, Music, Animal).", flag_values=fv)
    flags.DEFINE_float(
        "min_score", 0.5, "The score --label/--group needs.", lower_bound=0, upper_bound=1, flag_values=fv
    )
    flags.DEFINE_integer("top", 10, "Rows to list.", lower_bound=1, flag_values=fv)
    flags.DEFINE_enum("level", "windows", ["windows", "files", "events"], "What to list.", flag_values=fv)
    flags.DEFINE_enum("format", "text", list(FORMATS), "text (a table), json (records) or csv.", flag_values=fv)
    define_out_flag(fv, "Write the results here instead of stdout.")
    flags.DEFINE_string(
        "checkpoint",
        None,
        "The index's model, if not where its manifest says (its weights must be those the index was made with).",
        flag_values=fv,
    )
    flags.DEFINE_string("cache_dir", None, "Cache of downloads and converted weights.", flag_values=fv)
    define_operating_points_flag(fv, "each class's own instead of --min_score.")
    flags.register_multi_flags_validator(
        ["start", "end"],
        lambda v: v["start"] is None or v["end"] is None or v["end"] > v["start"],
        message="--end must be after --start",
        flag_values=fv,
    )


def _render(frame, fmt):
    if fmt == "json":
        return frame.to_json(orient="records", indent=1) + "\n"
    if fmt == "csv":
        return frame.to_csv(index=False, float_format="%.6g")
    if frame.empty:
        return "no match\n"
    return frame.to_string(index=False, float_format=lambda x: f"{x:.3f}", max_colwidth=80) + "\n"


def run(args, fv):
    from keras_panns.atomic import write_text_atomic
    from keras_panns.cli.common import operating_points
    from keras_panns.search import Index

    if len(args) != 1:
        raise app.UsageError("give one INDEX directory" if not args else f"one INDEX only, got {' '.join(args)}")
    if fv.like is None and fv.label is None and fv.group is None:
        raise app.UsageError("nothing to search for: give --like FILE, --label NAME or --group NAME")
    if (fv.start is not None or fv.end is not None) and fv.like is None:
        raise app.UsageError("--start and --end select a part of --like FILE")
    if fv.label is not None and fv.group is not None:
        raise app.UsageError("give --label or --group, not both")
    index = Index(args[0])
    points = operating_points(fv, model=index.manifest)
    frame = index.search(
        fv.like,
        start=fv.start,
        end=fv.end,
        label=fv.label,
        group=fv.group,
        min_score=fv.min_score,
        top=fv.top,
        level=fv.level,
        checkpoint=fv.checkpoint,
        cache_dir=fv.cache_dir,
        operating_points=points,
    )
    text = _render(frame, fv.format)
    if fv.out:
        write_text_atomic(fv.out, text)
        print(f"wrote {len(frame)} rows to {fv.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
