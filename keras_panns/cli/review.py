"""Writes a review page: windows of an index proposed for one class, to mark ✓ / ✗ / ? in a browser.

--strategy top proposes the best-scoring windows, random a uniform sample,
bins an even sample across score bins (0-0.1, ..., 0.9-1) so that precision
can be estimated at every threshold, margin the windows nearest the class's
threshold (0.5, or a head's point), spread out by embedding: the active-learning
loop's next labels. --label may be a class of a head applied to the index
(`keras-panns classify apply`); import its marks with --own_classes. Windows already labelled for the class
are left out. The page is one self-contained HTML file: each window plays
its own snippet (cut from the file) beside a log-mel thumbnail and its
score; "Save CSV" downloads the marks, which `keras-panns label --import`
adds to the index. Then `keras-panns calibrate` chooses the class's point.

Examples:
  keras-panns review recordings.index --label Dog --strategy bins --n 50 --out review.html
  keras-panns label recordings.index --import ~/Downloads/review_Dog.csv
  keras-panns review field.index --label cuckoo --strategy margin --n 30 --out cuckoo.html
  keras-panns label field.index --import ~/Downloads/review_cuckoo.csv --own_classes
"""

import sys

from absl import app

USAGE = "INDEX --label NAME [--strategy top|random|bins|margin] [--n 50] --out review.html"


def define_flags(fv):
    from absl import flags

    from keras_panns.cli.common import define_out_flag

    flags.DEFINE_string("label", None, "The class to review (the model's, or an applied head's).", flag_values=fv)
    flags.mark_flag_as_required("label", flag_values=fv)
    flags.DEFINE_enum("strategy", "bins", ["top", "random", "bins", "margin"], "How windows are chosen.",
                      flag_values=fv)  # fmt: skip
    flags.DEFINE_integer("n", 50, "Windows on the page.", lower_bound=1, upper_bound=2000, flag_values=fv)
    flags.DEFINE_integer("seed", 0, "The seed of random and bins.", flag_values=fv)
    define_out_flag(fv, "The HTML page to write.", endings=(".html", ".htm"), required=True)


def run(args, fv):
    from keras_panns.search import Index
    from keras_panns.search.review import propose, write_review_page

    if len(args) != 1:
        raise app.UsageError("give one INDEX directory" if not args else f"one INDEX only, got {' '.join(args)}")
    index = Index(args[0])
    proposals = propose(index, fv.label, fv.strategy, fv.n, fv.seed)
    written = write_review_page(
        index, fv.label, proposals, fv.out, strategy=fv.strategy, progress=len(proposals) > 20 and sys.stderr.isatty()
    )
    print(f"wrote {fv.out}: {written} windows to review for {fv.label!r} ({fv.strategy})", file=sys.stderr)
    return 0
