"""A review page: windows of an index proposed for one class, to be marked right, wrong or unsure.

`propose` picks the windows (not yet labelled for that class): the best
scores (`top`), a uniform sample (`random`), an even sample across score
bins of width 0.1 (`bins`), so that precision can be estimated at every
threshold from one page, or the windows nearest the class's decision
threshold, spread out (`margin`: active learning, what a label teaches most).
The class may be one of the model's or of a head applied to the index
(`keras-panns classify apply`): then the head's scores and point are used.
`write_review_page` writes one self-contained HTML file: each window plays
its own snippet (cut from the file, embedded as WAV) beside a log-mel
thumbnail and its score, and takes ✓ / ✗ / ? (buttons, or the keys y / n / u
for the highlighted one). "Save CSV" downloads the marks
as the CSV `keras-panns label --import` reads.

Example:
```python
from keras_panns.search import Index
from keras_panns.search.review import propose, write_review_page

index = Index("recordings.index")
write_review_page(index, "Dog", propose(index, "Dog", "bins", 50), "review.html")
```
"""

import base64
import html
import io
import json

import numpy as np

from keras_panns.errors import ArchiveError, PANNsError

STRATEGIES = ("top", "random", "bins", "margin")
#: `margin` looks among this many times `n` windows nearest the threshold for `n` spread-out ones.
MARGIN_POOL = 10
#: Score bins of the `bins` strategy: [0, 0.1), [0.1, 0.2), ... [0.9, 1].
BIN_EDGES = np.linspace(0.0, 1.0, 11)
#: The snippets' rate: enough for a listener, a quarter of the bytes of 32 kHz 16-bit.
SNIPPET_RATE = 16000


def _labelled_rows(index, label):
    """Window rows already labelled (any type) for `label`, by the join rule of `labelled`."""
    from keras_panns.archive.annotations import Annotations

    annotations = Annotations(index.path, index.labels).read()
    spans = annotations[(annotations.label == label) & annotations.start.notna() & annotations.end.notna()]
    if spans.empty:
        return np.zeros(0, np.int64)
    from keras_panns.search.labelled import covered_windows

    windows = index.windows[["path", "start", "end"]].assign(row=np.arange(len(index.windows)))
    return covered_windows(windows, spans).row.unique()


def propose(index, label, strategy="bins", n=50, seed=0):
    """Windows to review for `label`: path, start, end, score (and the score bin), not labelled yet.

    Args:
        index: `keras_panns.search.Index` with scores (or tags: only windows where the label is a top tag).
        label: str. One of the model's classes, or of a head applied to the index.
        strategy: str. `top`, `random`, `bins` or `margin` (see the module and `margin_windows`).
        n: int. Windows to propose.
        seed: int. The sample's seed.

    Returns:
        pandas DataFrame, best score first for `top`, by bin then score for `bins`.

    Raises:
        ArchiveError: an unknown strategy or class, or no scores to choose from.

    Example:
    ```python
    propose(index, "Dog", "top", 20).head()
    ```
    """
    if strategy not in STRATEGIES:
        raise ArchiveError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    head = index.head_class(label)
    threshold = 0.5
    if head is not None:
        scores = index.head_scores(head[0])[:, head[1]].astype(np.float64)
        threshold = index.heads[head[0]]["thresholds"][label]
    else:
        if label not in index.labels:
            import pandas as pd

            from keras_panns.archive.annotations import check_classes

            check_classes(pd.DataFrame({"label": [label]}), index.labels, "--label")
        scores = index.label_scores([index.labels.index(label)])[0].astype(np.float64)
    candidates = np.setdiff1d(np.flatnonzero(np.isfinite(scores)), _labelled_rows(index, label))
    rng = np.random.default_rng(seed)
    if strategy == "margin":
        picked = margin_windows(index, scores, candidates, threshold, n)
    elif strategy == "top":
        picked = candidates[np.argsort(-scores[candidates], kind="stable")[:n]]
    elif strategy == "random":
        picked = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
    else:
        bins = np.clip(np.digitize(scores[candidates], BIN_EDGES[1:-1]), 0, len(BIN_EDGES) - 2)
        members = [rng.permutation(candidates[bins == b]) for b in range(len(BIN_EDGES) - 1)]
        picked, taken = [], [0] * len(members)
        while len(picked) < n and any(taken[b] < len(m) for b, m in enumerate(members)):
            for b, m in enumerate(members):  # round-robin: every non-empty bin gets its share first
                if taken[b] < len(m) and len(picked) < n:
                    picked.append(m[taken[b]])
                    taken[b] += 1
        picked = np.asarray(picked, np.int64)
    frame = index.windows.iloc[picked][["path", "start", "end"]].assign(score=scores[picked])
    frame["bin"] = [f"{lo:.1f}-{lo + 0.1:.1f}" for lo in np.floor(np.clip(frame.score, 0, 0.999) * 10) / 10]
    if strategy == "bins":
        frame = frame.sort_values(["bin", "score"], ascending=[False, False], kind="stable")
    return frame.reset_index(drop=True)


def margin_windows(index, scores, candidates, threshold, n):
    """The `n` candidate windows nearest `threshold`, spread out: what a reviewer's mark teaches a head most.

    Among the `MARGIN_POOL * n` candidates whose score is nearest the threshold, the one nearest comes first;
    then each next window is the one farthest (cosine) from every window already picked, by embedding
    when the index has them (else at most one window per file, nearest first), so the page is not 50
    near-copies of one sound.

    Args:
        index: `keras_panns.search.Index`.
        scores: float array `(windows,)`.
        candidates: int array of window rows that may be proposed.
        threshold: float. The class's decision threshold.
        n: int.

    Returns:
        int array of window rows, in the order picked.

    Example:
    ```python
    rows = margin_windows(index, index.head_scores("cuckoo")[:, 0], np.arange(len(index.windows)), 0.4, 20)
    ```
    """
    from keras_panns.search.vectors import unit

    pool = candidates[np.argsort(np.abs(scores[candidates] - threshold), kind="stable")[: MARGIN_POOL * n]]
    if len(pool) <= 1:
        return pool
    if index.dims:
        vectors = unit(index.embeddings(pool))
        picked = [0]
        nearest = 1.0 - vectors @ vectors[0]  # each pool window's distance to the nearest picked one
        while len(picked) < min(n, len(pool)):
            nearest[picked] = -np.inf
            chosen = int(np.argmax(nearest))
            picked.append(chosen)
            nearest = np.minimum(nearest, 1.0 - vectors @ vectors[chosen])
        return pool[picked]
    paths = index.windows.path.to_numpy()[pool]
    _, first = np.unique(paths, return_index=True)
    return pool[np.sort(first)][:n]


def _snippet(path, start, end, rate):
    from keras_panns.audio import AudioFile

    audio = AudioFile(path)
    first = int(round(start * rate))
    return audio.read_window(first, max(1, int(round((end - start) * rate))), rate)


def _wav_data_url(waveform, rate):
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(waveform, -1, 1), rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def _thumbnail_data_url(waveform, rate):
    import librosa
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    # One fixed scale for every window (not each one's own maximum): a quiet window looks quiet.
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=waveform, sr=rate, n_mels=48), ref=1.0, top_db=None)
    figure = plt.figure(figsize=(2.4, 0.8), dpi=100)
    axes = figure.add_axes([0, 0, 1, 1])
    axes.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=-40, vmax=50)
    axes.axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Review: {label}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 900px; color: #222; }}
.item {{ display: flex; align-items: center; gap: 12px; padding: 6px; border-bottom: 1px solid #eee; }}
.item.current {{ outline: 2px solid #3b75af; }} .item img {{ width: 240px; height: 80px; }}
.meta {{ flex: 1; font-size: 0.85em; }} .meta .path {{ word-break: break-all; color: #555; }}
button.mark {{ font-size: 1.1em; width: 2.4em; }} button.on {{ background: #3b75af; color: white; }}
#bar {{ position: sticky; top: 0; background: white; padding: 8px 0; border-bottom: 2px solid #ddd; }}
</style></head><body>
<h1>Is it “{label}”?</h1>
<p>{count} windows of {index}, proposed by <b>{strategy}</b>. Mark each ✓ (it is), ✗ (it is not) or ? (unsure);
keys <kbd>y</kbd> / <kbd>n</kbd> / <kbd>u</kbd> mark the highlighted one and move on. “Save CSV” downloads the marks for
<code>keras-panns label {index} --import FILE{own}</code>.</p>
<div id="bar"><span id="progress"></span> <button id="save">Save CSV</button></div>
<div id="items">{items}</div>
<script>
const LABEL = {label_json};
const items = Array.from(document.querySelectorAll('.item'));
const marks = new Map();
let current = 0;
function show() {{
  items.forEach((item, i) => {{
    item.classList.toggle('current', i === current);
    item.querySelectorAll('button.mark').forEach(b => b.classList.toggle('on', marks.get(i) === b.dataset.type));
  }});
  document.getElementById('progress').textContent = `${{marks.size}} of ${{items.length}} marked`;
}}
function mark(i, type) {{
  marks.set(i, type);
  current = Math.min(i + 1, items.length - 1);
  show();
  items[current].scrollIntoView({{block: 'nearest'}});
}}
items.forEach((item, i) => item.querySelectorAll('button.mark').forEach(b =>
  b.addEventListener('click', () => mark(i, b.dataset.type))));
document.addEventListener('keydown', e => {{
  const type = {{y: 'positive', n: 'negative', u: 'uncertain'}}[e.key];
  if (type) mark(current, type);
}});
function csv() {{
  const quote = s => /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  const rows = ['path,start,end,label,label_type,score'];
  items.forEach((item, i) => {{
    if (!marks.has(i)) return;
    const d = item.dataset;
    rows.push([quote(d.path), d.start, d.end, quote(LABEL), marks.get(i), d.score].join(','));
  }});
  return rows.join('\\n') + '\\n';
}}
document.getElementById('save').addEventListener('click', () => {{
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([csv()], {{type: 'text/csv'}}));
  link.download = {file_json};
  document.body.appendChild(link);
  link.click();
  link.remove();
}});
window.review = {{csv, marks}};
show();
</script></body></html>
"""

_ITEM = """<div class="item" data-path="{path_attr}" data-start="{start}" data-end="{end}" data-score="{score}">
<audio controls preload="none" src="{audio}"></audio><img alt="log-mel of the window" src="{image}">
<div class="meta"><b>{score:.3f}</b> <span class="muted">(bin {bin})</span><br>
<span class="path">{path} {start:g}–{end:g} s</span>{note}</div>
<button class="mark" data-type="positive" title="it is (y)">✓</button>
<button class="mark" data-type="negative" title="it is not (n)">✗</button>
<button class="mark" data-type="uncertain" title="unsure (u)">?</button></div>"""


def write_review_page(index, label, proposals, out, strategy="bins", progress=False):
    """Writes the review page of `proposals` (from `propose`) to `out`, atomically.

    A window whose audio cannot be read is kept on the page without a snippet, its reason shown.

    Args:
        index: `keras_panns.search.Index`.
        label: str. The class under review.
        proposals: pandas DataFrame from `propose`.
        out: str. The HTML file.
        strategy: str. How the windows were chosen (shown on the page).
        progress: bool. A tqdm bar on stderr while snippets are cut.

    Returns:
        int, the windows on the page.

    Example:
    ```python
    write_review_page(index, "Dog", propose(index, "Dog", "top", 20), "review.html", strategy="top")
    ```
    """
    import os
    import sys

    from keras_panns.atomic import write_text_atomic

    rows = proposals.itertuples(index=False)
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, total=len(proposals), unit="window", file=sys.stderr, desc="cutting snippets")
    items = []
    for row in rows:
        audio = image = ""
        note = ""
        try:
            waveform = _snippet(row.path, float(row.start), float(row.end), SNIPPET_RATE)
            audio, image = _wav_data_url(waveform, SNIPPET_RATE), _thumbnail_data_url(waveform, SNIPPET_RATE)
        except PANNsError as exc:
            note = f"<br><span style='color:#b00'>no snippet: {html.escape(str(exc))}</span>"
        items.append(
            _ITEM.format(
                path_attr=html.escape(row.path, quote=True),
                path=html.escape(row.path),
                start=float(row.start),
                end=float(row.end),
                score=float(row.score),
                bin=html.escape(row.bin),
                audio=audio,
                image=image,
                note=note,
            )
        )
    name = os.path.basename(os.path.abspath(index.path))
    page = _PAGE.format(
        label=html.escape(label),
        label_json=json.dumps(label),
        file_json=json.dumps(f"review_{label.replace(' ', '_').replace('/', '_')}.csv"),
        count=len(items),
        index=html.escape(name),
        strategy=html.escape(strategy),
        own=" --own_classes" if label not in index.labels else "",
        items="\n".join(items),
    )
    write_text_atomic(out, page)
    return len(items)
