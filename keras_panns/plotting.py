"""Pictures of sound event detection: log-mel spectrogram above class activity curves.

`SEDOverview` pools a recording's log-mel frames and framewise scores into
at most `max_columns` time columns as they stream past, so the picture of an
hour-long file costs a few megabytes; `plot_sed` draws it with matplotlib's
headless Agg backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np

from keras_panns.labels import top_k_indices


class SEDOverview:
    """Time-pooled log-mel and framewise scores of one recording, for plotting.

    Log-mel frames are averaged and scores max-pooled per column, so a short
    event stays visible however long the recording.

    Args:
        total_frames: int. Frames of the whole recording.
        frame_rate: float. Frames per second.
        max_columns: int. Time resolution of the picture.

    Example:
    ```python
    overview = SEDOverview(total_frames=1001, frame_rate=100.0)
    overview.add_scores(0, framewise)          # (frames, classes)
    overview.add_log_mel(0, log_mel)           # (frames, mel_bins)
    plot_sed(overview, labels, "clip.png")
    ```
    """

    def __init__(self, total_frames, frame_rate, max_columns=2000):
        self.total_frames, self.frame_rate = int(total_frames), float(frame_rate)
        self.columns = max(1, min(self.total_frames, int(max_columns)))
        self.scores = self._mel_sum = self._mel_count = None

    def _column(self, first, count):
        return np.arange(first, first + count) * self.columns // self.total_frames

    def add_scores(self, first_frame, scores):
        """Adds framewise scores `(frames, classes)` starting at frame `first_frame` (pooled by maximum).

        Args:
            first_frame: int. Global index of the first frame.
            scores: float array `(frames, classes)`.

        Example:
        ```python
        for first, frames in keras_panns.iter_framewise(sed, "day.flac"):
            overview.add_scores(first, frames)
        ```
        """
        scores = np.asarray(scores, np.float32)
        if self.scores is None:
            self.scores = np.zeros((self.columns, scores.shape[1]), np.float32)
        scores = scores[: max(self.total_frames - first_frame, 0)]
        np.maximum.at(self.scores, self._column(first_frame, len(scores)), scores)

    def add_log_mel(self, first_frame, log_mel):
        """Adds log-mel frames `(frames, mel_bins)` in dB starting at `first_frame` (overlaps average).

        Args:
            first_frame: int. Global index of the first frame.
            log_mel: float array `(frames, mel_bins)`, dB.

        Example:
        ```python
        overview.add_log_mel(first, log_mel_frames)
        ```
        """
        log_mel = np.asarray(log_mel, np.float64)[: max(self.total_frames - first_frame, 0)]
        if self._mel_sum is None:
            self._mel_sum = np.zeros((self.columns, log_mel.shape[1]))
            self._mel_count = np.zeros((self.columns, 1))
        columns = self._column(first_frame, len(log_mel))
        np.add.at(self._mel_sum, columns, log_mel)
        np.add.at(self._mel_count, columns, 1)

    @property
    def log_mel(self):
        """Pooled log-mel `(columns, mel_bins)` in dB, or None if none was added."""
        if self._mel_sum is None:
            return None
        return (self._mel_sum / np.maximum(self._mel_count, 1)).astype(np.float32)

    @property
    def duration(self):
        return self.total_frames / self.frame_rate


def top_classes(scores, k, classes=None):
    """Indices of the `k` classes (among `classes`, if given) with the highest peak score, best first.

    Args:
        scores: array `(frames, classes)`.
        k: int.
        classes: iterable of int or None.

    Returns:
        A list of int.

    Example:
    ```python
    top_classes(np.array([[0.1, 0.9], [0.8, 0.2]]), 1)  # [1]
    ```
    """
    return top_k_indices(np.asarray(scores).max(axis=0), k, classes)


def plot_sed(
    overview: SEDOverview,
    labels: Sequence[str],
    path: str | os.PathLike,
    *,
    top_k: int = 5,
    threshold: float | None = None,
    title: str | None = None,
    classes: Iterable[int] | None = None,
) -> None:
    """Saves a PNG: log-mel spectrogram on top, the top-k classes' scores over time below.

    Args:
        overview: a `SEDOverview` with scores (and log-mel, if added).
        labels: list of class names.
        path: str. Output PNG path.
        top_k: int. Classes to draw (highest peak score first).
        classes: iterable of int or None. Draw only these classes (e.g. an ontology group's).
        threshold: float or None. Drawn as a dashed line (e.g. the event threshold).
        title: str or None. Figure title (e.g. the file name).

    Raises:
        ValueError: the overview holds no scores.

    Example:
    ```python
    plot_sed(overview, sed_model.labels, "street.png", top_k=5, threshold=0.5)
    ```
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt

    if overview.scores is None:
        raise ValueError("the overview holds no scores to plot")
    time = (np.arange(overview.columns) + 0.5) * overview.duration / overview.columns
    log_mel = overview.log_mel
    rows = 2 if log_mel is not None else 1
    fig, axes = plt.subplots(
        rows, 1, figsize=(12, 3.2 * rows), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [1, 1.2][-rows:]}
    )
    if log_mel is not None:
        ax = axes[0, 0]
        image = ax.imshow(
            log_mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, overview.duration, 0, log_mel.shape[1])
        )
        ax.set_ylabel("mel bin")
        ax.set_title(title or "log-mel spectrogram")
        fig.colorbar(image, ax=ax, pad=0.01, label="dB")
    ax = axes[-1, 0]
    for index in top_classes(overview.scores, top_k, classes):
        ax.plot(
            time,
            overview.scores[:, index],
            linewidth=1.4,
            label=f"{labels[index]} (max {overview.scores[:, index].max():.2f})",
        )
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, overview.duration)
    ax.set_ylabel("score")
    ax.set_xlabel("time (s)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    if log_mel is not None:
        # An invisible twin of the colour bar keeps the curves aligned with the spectrogram.
        fig.colorbar(image, ax=ax, pad=0.01).ax.set_visible(False)
    fig.tight_layout()
    tmp = f"{os.fspath(path)}.partial.png"  # renamed when complete: no half-written picture on failure
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)


def plot_operating_points(examples, points, path, max_classes=12):
    """Per-class precision-recall curves with each class's chosen operating point, as one PNG.

    Curves are scikit-learn's (`PrecisionRecallDisplay.from_predictions`); the point is the precision and
    recall that the class's threshold gives on the same labels, with its threshold written beside it.

    Args:
        examples: dict class -> `(scores, truth)` (`keras_panns.search.labelled.labelled_examples`).
        points: `keras_panns.decisions.OperatingPoints`. Classes without a point are drawn without one.
        path: str. The PNG to write.
        max_classes: int. The classes with the most labels, at most this many.

    Returns:
        list of str, the classes drawn.

    Raises:
        ValueError: no class has both positive and negative labels.

    Example:
    ```python
    plot_operating_points(labelled_examples(index), points, "points.png")
    ```
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: servers and CI have no display
    import matplotlib.pyplot as plt
    from sklearn.metrics import PrecisionRecallDisplay, precision_score, recall_score

    drawable = {name: (s, t) for name, (s, t) in examples.items() if t.any() and (~t).any()}
    names = sorted(drawable, key=lambda name: -len(drawable[name][1]))[:max_classes]
    if not names:
        raise ValueError("no class has both positive and negative labels to draw")
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        scores, truth = drawable[name]
        PrecisionRecallDisplay.from_predictions(truth, scores, ax=ax, name="labels", plot_chance_level=True)
        point = points.classes.get(name)
        if point is not None:
            predicted = scores >= point["threshold"]
            recall = recall_score(truth, predicted, zero_division=0)
            precision = precision_score(truth, predicted, zero_division=0)
            ax.plot([recall], [precision], "o", color="crimson", markersize=7)
            ax.annotate(f"t={point['threshold']:.2f}", (recall, precision), textcoords="offset points", xytext=(6, -12))
        ax.set_title(f"{name[:28]} ({int(truth.sum())}+/{int((~truth).sum())}-)", fontsize=9)
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        ax.legend().remove()
    figure.suptitle(f"Precision-recall on the labels, operating points for {points.target}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return names
