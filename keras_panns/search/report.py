"""`keras-panns report`: one self-contained HTML page that gives an overview of an index.

The page holds: what the index is (model, window, files, hours); the top
classes and top-level ontology groups by hours of audio (each window counts
for the seconds it adds, so overlapping windows are not counted twice); the
distribution of the windows' top scores; events (or windows) per file; the
errors by kind with the failed files; and a 2-D map of the embeddings (PCA,
scikit-learn) coloured by top class, where each point links to its file at
its time (a `file://...#t=start,end` media fragment). Charts are SVG drawn by
matplotlib inside the page: nothing is loaded from anywhere else.

Example:
```python
from keras_panns.search import Index
from keras_panns.search.report import write_report
write_report(Index("recordings.index"), "report.html")
```
"""

import collections
import functools
import html
import io
import os
import pathlib

import numpy as np

from keras_panns.atomic import write_text_atomic

#: Points of the embedding map at most (a sample of windows, spread evenly over the index).
MAP_POINTS = 4000
TOP_CLASSES = 15
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 2px 10px; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } .grid { display: flex; flex-wrap: wrap; gap: 1em; }
.muted { color: #777; } svg { max-width: 100%; height: auto; }
"""


def _svg(figure):
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: the SVG goes inline
    start, end = text.find("<metadata>"), text.find("</metadata>")
    return text[:start] + text[end + len("</metadata>") :] if 0 <= start < end else text  # RDF about matplotlib


def _figure(width=6.0, height=3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "path"  # text as paths: no font needed where the page is opened
    return plt.subplots(figsize=(width, height))


def _bars(names, values, xlabel):
    figure, axes = _figure(6.0, 0.28 * max(len(names), 3) + 0.8)
    axes.barh(range(len(names))[::-1], values, color="#3b75af")
    axes.set_yticks(range(len(names))[::-1], names)
    axes.set_xlabel(xlabel)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _histogram(values, bins, xlabel, ylabel):
    figure, axes = _figure()
    axes.hist(values, bins=bins, color="#3b75af")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


@functools.lru_cache(maxsize=None)
def _top_group(name):
    """The top-level ontology group of a class (e.g. Dog -> Animal)."""
    from keras_panns.labels import ancestors

    above = ancestors(name)
    return above[-1] if above else name


def _seconds_per_window(windows, hop):
    """The seconds each window adds to the archive's audio: up to the next window's start, at most its length."""
    length = (windows["end"] - windows["start"]).to_numpy()
    return np.minimum(length, hop)


def _file_url(path, start, end):
    if "://" in path:
        return f"{path}#t={start:.2f},{end:.2f}"
    return f"{pathlib.Path(os.path.abspath(path)).as_uri()}#t={start:.2f},{end:.2f}"


def _map(index, windows, top_labels):
    from sklearn.decomposition import PCA

    step = max(1, len(windows) // MAP_POINTS)
    rows = np.arange(0, len(windows), step)[:MAP_POINTS]
    points = PCA(n_components=2, random_state=0).fit_transform(index.embeddings(rows))
    labels = [top_labels[r] for r in rows]
    common = [name for name, _ in collections.Counter(labels).most_common(9)]
    figure, axes = _figure(7.5, 5.5)
    colours = {name: f"C{i}" for i, name in enumerate(common)}
    for name in common + ["other"]:
        picked = [i for i, label in enumerate(labels) if (label if label in colours else "other") == name]
        if not picked:
            continue
        dots = axes.scatter(
            points[picked, 0], points[picked, 1], s=9, alpha=0.75, label=name, color=colours.get(name, "#bbbbbb")
        )
        dots.set_urls(
            [
                _file_url(windows["path"].iat[rows[i]], windows["start"].iat[rows[i]], windows["end"].iat[rows[i]])
                for i in picked
            ]
        )
    axes.set_xlabel("principal component 1")
    axes.set_ylabel("principal component 2")
    axes.legend(fontsize=7, loc="best", markerscale=1.5)
    return _svg(figure), len(rows)


def _table(frame, limit=50):
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.head(limit).itertuples(index=False)
    )
    more = f"<p class='muted'>... and {len(frame) - limit} more</p>" if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def build_report(index, operating_points=None):
    """The report of `index` (a `keras_panns.search.Index`) as one HTML string.

    Args:
        index: `keras_panns.search.Index`.
        operating_points: `keras_panns.decisions.OperatingPoints` or None. Adds what each class with a
            point holds at its own threshold (needs an index with scores).

    Raises:
        ArchiveError: the index holds neither tags nor scores (nothing to summarise), or the points were
            chosen for another model.
    """
    manifest, files, windows = index.manifest, index.files, index.windows
    top_labels, top_scores = _top_of_windows(index, windows)
    ok = files[files["status"] == "ok"]
    total_hours = float(ok["duration"].sum()) / 3600 if len(ok) else 0.0
    parts = [
        f"<h1>keras-panns index: {html.escape(os.path.basename(os.path.abspath(index.path)))}</h1>",
        f"<p>{len(ok):,} files indexed ({total_hours:,.2f} h of audio, {len(windows):,} windows of "
        f"{manifest['window_seconds']:g} s every {manifest['hop_seconds']:g} s), {len(index.errors):,} failed. "
        f"Model {html.escape(manifest['model'])} ({html.escape(str(manifest.get('zoo_card') or 'local weights'))}"
        f", weights sha256 {manifest['weights_sha256'][:12]}...), keras-panns "
        f"{html.escape(manifest['package_version'])}, {html.escape(manifest['runtime']['runtime'])} "
        f"{html.escape(manifest['runtime']['precision'])}.</p>",
    ]
    parts += _hours_section(top_labels, _seconds_per_window(windows, manifest["hop_seconds"]))
    finite = top_scores[np.isfinite(top_scores)]
    if len(finite):
        parts += [
            "<h2>Score distribution</h2>",
            _histogram(finite, np.linspace(0, 1, 41), "top score of a window", "windows"),
        ]
    if operating_points is not None:
        parts += _operating_points_section(index, windows, operating_points)
    parts += _heads_section(index, windows)
    parts += _labels_section(index)
    parts += _per_file_section(index, windows, ok)
    parts += _errors_section(index.errors)
    if index.dims and len(windows) >= 3:
        svg, points = _map(index, windows, top_labels)
        parts += [
            "<h2>Map of the embeddings</h2>",
            f"<p class='muted'>{points:,} windows (PCA of the embeddings), coloured by top class; a point "
            "opens its file at its time.</p>",
            svg,
        ]
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>keras-panns index report"
        f"</title><style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )


def _top_of_windows(index, windows):
    """Each window's top label (None where it has none) and top score, from its tags or its scores."""
    from keras_panns.errors import ArchiveError

    if "tags" in index.outputs:
        top_labels = [names[0] if len(names) else None for names in windows["top_labels"]]
        top_scores = np.asarray([scores[0] if len(scores) else np.nan for scores in windows["top_scores"]])
        return top_labels, top_scores
    if "scores" in index.outputs:
        scores = index.scores()
        return [index.labels[i] for i in scores.argmax(axis=1)], scores.max(axis=1)
    raise ArchiveError(f"{index.path} holds no tags or scores to report on")


def _hours_section(top_labels, seconds):
    """Bars of the hours each top class, and each top-level group, accounts for."""
    hours = collections.defaultdict(float)
    group_hours = collections.defaultdict(float)
    for label, added in zip(top_labels, seconds):
        if label is not None:
            hours[label] += added / 3600
            group_hours[_top_group(label)] += added / 3600
    top = sorted(hours.items(), key=lambda item: -item[1])[:TOP_CLASSES]
    groups = sorted(group_hours.items(), key=lambda item: -item[1])
    if not top:
        return []
    return [
        "<h2>Top classes and groups by hours of audio</h2>",
        "<p class='muted'>Each window counts for its top class, for the seconds it adds.</p>",
        "<div class='grid'>",
        _bars([n for n, _ in top], [h for _, h in top], "hours"),
        _bars([n for n, _ in groups], [h for _, h in groups], "hours (top-level group)"),
        "</div>",
    ]


def _operating_points_section(index, windows, points):
    """Per class with an operating point: windows, hours and files at or over its own threshold."""
    import pandas as pd

    from keras_panns.errors import ArchiveError

    try:
        points.check_model(index.manifest)
    except ValueError as exc:
        raise ArchiveError(str(exc)) from exc
    if "scores" not in index.outputs:
        return [
            "<h2>At the operating points</h2>",
            "<p class='muted'>This index holds only the top-k tags; counts at per-class thresholds need every "
            "class's score (index with --outputs scores).</p>",
        ]
    scores = index.scores()
    seconds = _seconds_per_window(windows, index.manifest["hop_seconds"])
    rows = []
    for name, point in points.classes.items():
        if name not in index.labels:
            continue
        over = scores[:, index.labels.index(name)] >= point["threshold"]
        held = point.get("held_out", {})
        rows.append(
            {
                "class": name,
                "threshold": round(point["threshold"], 3),
                "windows": int(over.sum()),
                "hours": round(float(seconds[over].sum()) / 3600, 3),
                "files": int(windows["path"][over].nunique()),
                "held-out precision": round(held["precision"], 2) if "precision" in held else "",
                "held-out recall": round(held["recall"], 2) if "recall" in held else "",
            }
        )
    frame = pd.DataFrame(rows).sort_values("hours", ascending=False, kind="stable") if rows else pd.DataFrame()
    return [
        "<h2>At the operating points</h2>",
        f"<p class='muted'>Each class at its own threshold (target {html.escape(points.target)}, chosen by "
        "keras-panns calibrate on this index's labels; held-out figures are from its cross-validation).</p>",
        _table(frame) if rows else "<p>No class has an operating point.</p>",
    ]


def _heads_section(index, windows):
    """Per class of each applied head (`classify apply`): windows, hours and files at or over its card's point,
    beside the card's cross-validated AP and the head's label counts."""
    import pandas as pd

    from keras_panns.errors import ArchiveError

    rows, stale = [], []
    seconds = _seconds_per_window(windows, index.manifest["hop_seconds"])
    for name, record in index.heads.items():
        try:
            scores = index.head_scores(name)
        except ArchiveError:  # applied before the index grew: say so rather than count part of it
            stale.append(name)
            continue
        for column, label in enumerate(record["classes"]):
            over = scores[:, column] >= record["thresholds"][label]
            described = record["card"]["classes"][label]
            rows.append(
                {
                    "head": name,
                    "class": label,
                    "threshold": round(record["thresholds"][label], 3),
                    "windows": int(over.sum()),
                    "hours": round(float(seconds[over].sum()) / 3600, 3),
                    "files": int(windows["path"][over].nunique()),
                    "positives labelled": described["positives"],
                    "cross-validated AP": "" if described.get("ap") is None else round(described["ap"], 3),
                }
            )
    if not rows and not stale:
        return []
    parts = [
        "<h2>Your own classes (heads)</h2>",
        "<p class='muted'>Each class of a head applied with keras-panns classify apply, at the point on its "
        "card (chosen on held-out folds when it was trained; 0.5 without enough labels).</p>",
    ]
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    if stale:
        parts.append(
            f"<p>Applied before the index grew (apply again to count them): {html.escape(', '.join(stale))}.</p>"
        )
    return parts


def _labels_section(index):
    """The labels people gave (`keras-panns label`): positives, negatives and uncertain per class."""
    from keras_panns.archive.annotations import Annotations

    labels = Annotations(index.path, index.labels).read()
    if labels.empty:
        return []
    counts = labels.groupby(["label", "label_type"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=["positive", "negative", "uncertain"], fill_value=0)
    counts = counts.sort_values("positive", ascending=False).reset_index()
    return [
        "<h2>Labels</h2>",
        f"<p class='muted'>{len(labels):,} labels from {labels['provenance'].nunique()} imports.</p>",
        _table(counts),
    ]


def _per_file_section(index, windows, ok):
    """A histogram of events per file (an index with events), else of windows per file."""
    if "events" in index.outputs:
        counts = index.events.groupby("path").size().reindex(ok["path"], fill_value=0).to_numpy()
        title, axis = "Events per file", "events in a file"
    else:
        counts = windows.groupby("path").size().to_numpy()
        title, axis = "Windows per file", "windows in a file"
    return [f"<h2>{title}</h2>", _histogram(counts, min(40, max(int(counts.max()) + 1, 2)), axis, "files")]


def _errors_section(errors):
    """The failed files by kind of error, then each with its reason."""
    if not len(errors):
        return ["<h2>Errors</h2>", "<p>None: every file was indexed.</p>"]
    kinds = errors.groupby("error").size().sort_values(ascending=False)
    return [
        "<h2>Errors</h2>",
        _table(kinds.rename("files").reset_index()),
        "<p></p>",
        _table(errors[["path", "error", "reason"]]),
    ]


def write_report(index, out, operating_points=None):
    """Writes `build_report(index, operating_points)` to `out` (atomically); returns `out`."""
    write_text_atomic(out, build_report(index, operating_points))
    return out
