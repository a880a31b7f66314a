"""Writes an overview of an index made by `keras-panns index` as one self-contained HTML page.

The page shows the top classes and top-level ontology groups by hours of
audio, the distribution of the windows' top scores, events (or windows) per
file, the errors, and, for an index with embeddings, a 2-D map of them
coloured by top class where a point opens its file at its time. Everything
is inside the file (SVG charts, no scripts or fonts from elsewhere): it can
be mailed or opened offline.

With --operating_points (from `keras-panns calibrate`), the page adds, per
class with a point, the windows, hours and files at or over its own
threshold; labels added with `keras-panns label` are counted per class.

Examples:
  keras-panns report recordings.index --out report.html
  keras-panns report recordings.index --operating_points points.json --out report.html
"""

import sys

from absl import app

USAGE = "INDEX --out report.html"


def define_flags(fv):
    from keras_panns.cli.common import define_operating_points_flag, define_out_flag

    define_out_flag(fv, "The HTML file to write.", endings=(".html", ".htm"), required=True)
    define_operating_points_flag(fv, "counts at each.")


def run(args, fv):
    from keras_panns.cli.common import operating_points
    from keras_panns.search import Index
    from keras_panns.search.report import write_report

    if len(args) != 1:
        raise app.UsageError("give one INDEX directory" if not args else f"one INDEX only, got {' '.join(args)}")
    index = Index(args[0])
    write_report(index, fv.out, operating_points(fv, model=index.manifest))
    print(f"wrote {fv.out}: {len(index.files):,} files, {len(index.windows):,} windows", file=sys.stderr)
    return 0
