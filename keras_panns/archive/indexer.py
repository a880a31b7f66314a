"""`keras_panns.index_archive`: tag, detect and embed a whole archive on Ray Data, resumable, nothing lost.

With no cluster named, a local Ray is started for the job on this machine's
cores, with every socket on 127.0.0.1 and no dashboard (an exposed Ray runs
anyone's code: CVE-2023-48022), and stopped at the end; `address` (or
`$RAY_ADDRESS`) runs the same job on an existing cluster, where every node
needs keras-panns installed. See `keras_panns.archive.job` for the pipeline
and `keras_panns.archive.store` for the tables.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keras_panns.archive import job, schema
from keras_panns.archive.assemble import FileAssembler
from keras_panns.archive.reader import MANIFEST, IndexReader
from keras_panns.archive.sources import list_sources
from keras_panns.archive.store import IndexStore
from keras_panns.errors import ArchiveError, CheckpointError
from keras_panns.version import __version__

if TYPE_CHECKING:
    import keras

OUTPUTS = tuple(schema.OUTPUTS)
_FRONT_END_KEYS = ("sample_rate", "window_size", "hop_size", "mel_bins", "fmin", "fmax")


@dataclasses.dataclass
class IndexSummary:
    """What one `index_archive` run did.

    Attributes:
        out: str. The index directory.
        files: int. Files the sources name.
        skipped: int. Already in the index before this run (not read again).
        indexed: int. Indexed by this run.
        failed: int. Failed in this run (in the `errors` table).
        windows: int. Windows run through the model in this run.
        audio_hours: float. Hours of audio indexed by this run.
        seconds: float. Wall time of the run.
        runtime: str. The runtime and precision the model ran on, and why.
        changed: int. Files in the index before whose size or mtime differ now: retired, indexed again.

    Example:
    ```python
    summary = keras_panns.index_archive("recordings/", out="recordings.index")
    print(summary.indexed, summary.failed, f"{summary.audio_hours:.1f} h in {summary.seconds:.0f} s")
    ```
    """

    out: str
    files: int
    skipped: int
    indexed: int
    failed: int
    windows: int
    audio_hours: float
    seconds: float
    runtime: str
    changed: int = 0

    @property
    def clips_per_second(self):
        """Windows run through the model per second of wall time."""
        return self.windows / self.seconds if self.seconds > 0 else 0.0

    def __str__(self):
        return (
            f"indexed {self.indexed} files ({self.audio_hours:.2f} h of audio, {self.windows} windows) in "
            f"{self.seconds:.1f} s: {self.clips_per_second:.2f} windows/s; {self.skipped} already indexed, "
            f"{self.failed} failed{f', {self.changed} changed since indexed (indexed anew)' if self.changed else ''}; "
            f"on {self.runtime}; index: {self.out}"
        )


def weights_sha256(model):
    """sha256 over every weight's path, shape and bytes, in order: the manifest's weights fingerprint."""
    import keras
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(str(getattr(weight, "path", weight.name)).encode())
        digest.update(str(value.shape).encode())
        digest.update(value.data)
    return digest.hexdigest()


def _manifest(model, outputs, window_seconds, hop_seconds, top_k, event_options, choice):
    config = model.config
    embedding = model.output["embedding"].shape[-1] if "embedding" in model.output else 0
    return {
        "format": "keras-panns-index/1",
        "package_version": __version__,
        "model": type(model).__name__,
        "model_name": model.name,
        "zoo_card": getattr(getattr(model, "card", None), "name", None),
        "weights_sha256": weights_sha256(model),
        "window_seconds": float(window_seconds),
        "hop_seconds": float(hop_seconds),
        "sample_rate": model.sample_rate,
        "front_end": {key: config[key] for key in _FRONT_END_KEYS if key in config},
        "outputs": sorted(outputs),
        "top_k": int(top_k),
        "events": event_options,
        "num_classes": len(model.labels),
        "embedding_size": int(embedding or 0),
        "labels_sha256": hashlib.sha256(json.dumps(model.labels).encode()).hexdigest(),
        "labels": list(model.labels),
        "runtime": {"runtime": choice.runtime, "precision": choice.precision},
    }


def _check_outputs(model, outputs):
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown or not outputs:
        raise ArchiveError(f"outputs {', '.join(unknown) or '(none)'}: choose from {', '.join(OUTPUTS)}")
    if "embeddings" in outputs and "embedding" not in model.output:
        raise ArchiveError(f"{model.name} has no embedding output; leave out 'embeddings' or use a tagging model")
    if "events" in outputs and "framewise_output" not in model.output:
        raise ArchiveError(
            f"{model.name} has no framewise output for events: use a SED model "
            "(cnn14_decision_level_max) or Cnn14_DecisionLevelMax.from_tagger(cnn14)"
        )


def _frame_scoring(model):
    """`models.sed.frame_scoring_model`, with a warning when it converted a tagger."""
    import warnings

    from keras_panns.models.sed.sed import FROM_TAGGER_NOTE, frame_scoring_model

    try:
        sed = frame_scoring_model(model)
    except CheckpointError as exc:
        raise ArchiveError(f"events from {model.name}: {exc}") from exc
    if sed is not model:
        warnings.warn(
            f"{model.name} is a tagger: its events come from its decision-level forward ({FROM_TAGGER_NOTE})",
            stacklevel=3,
        )
    return sed


def _require_packages(ray=True):
    try:
        import pyarrow  # noqa: F401

        if ray:  # a finished rerun reads the index with pyarrow alone; importing Ray Data takes seconds
            import ray.data  # noqa: F401
    except ImportError as exc:
        raise ArchiveError(
            f"indexing an archive needs Ray Data and pyarrow ({exc.name} is missing): "
            "pip install 'keras-panns[archive]'"
        ) from exc


def _reachable(address):
    host, _, port = address.replace("ray://", "").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return True
    except (OSError, ValueError):
        return False


class _RaySession:
    """Connects to `address`, or starts (and afterwards stops) a local Ray on 127.0.0.1 only."""

    def __init__(self, address, num_cpus):
        self.address, self.num_cpus, self.started = address, num_cpus, False

    def __enter__(self):
        import ray

        if ray.is_initialized():
            return ray  # the caller's own session (e.g. a notebook already connected)
        if self.address and self.address != "local":
            if self.address != "auto" and not _reachable(self.address):
                raise ArchiveError(
                    f"no Ray cluster answers at {self.address} (is `ray start --head` running "
                    "there, and is the port right?)"
                )
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level="error")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ArchiveError(f"cannot connect to the Ray cluster at {self.address}: {exc}") from exc
            self.started = True
            _check_cluster(ray, self.address)
            return ray
        ray.init(
            num_cpus=self.num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            logging_level="error",
        )
        self.started = True
        return ray

    def __exit__(self, *exc_info):
        import ray

        if self.started:
            ray.shutdown()


def _remote_version():
    from keras_panns.version import __version__ as remote

    return remote


def _check_cluster(ray, address):
    try:
        version = ray.get(ray.remote(num_cpus=0)(_remote_version).remote(), timeout=120)
    except Exception as exc:  # a worker that cannot import keras_panns fails with Ray's wrapper of the ImportError
        raise ArchiveError(
            f"the Ray cluster at {address} cannot run keras-panns ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); install keras-panns[archive] on "
            "every node"
        ) from exc
    if version != __version__:
        raise ArchiveError(
            f"the Ray cluster at {address} has keras-panns {version}, this driver {__version__}: "
            "install the same version on every node"
        )


def _share_gpus():
    """Makes JAX and TensorFlow take GPU memory as they need it, in this driver and the actors it starts.

    By default each reserves most of a GPU's memory in the first process that touches it: the driver, which
    loads the model only to send its weights, would leave the model actor out of memory on the same GPU
    (seen on an H200 with JAX). Environment variables reach the actors of a local Ray, which inherit them;
    they act only where the framework has not yet started on the GPU.
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")


def _load(model, cache_dir):
    if not isinstance(model, str):
        return model
    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel

    return loaders.load(PANNsModel, model, cache_dir=cache_dir)


def _not_done(files, done):
    """The rows of `files` whose (path, size, mtime) is not among `done`'s."""
    return files.join(done, keys=["path", "size", "mtime"], join_type="left anti")


def _todo(files, store):
    """The files to index: those not in the index with the same path, size and mtime.

    A file in the index whose size or mtime differ now (rewritten, or copied anew) is retired from the
    index first, so that it is there once, as it is now, after this run.
    """
    done = store.done_keys()
    if done.num_rows == 0:
        return files, 0
    todo = _not_done(files, done)
    # Paths are unique among the sources, so joining on path alone counts each changed file once.
    changed = todo.join(done.select(["path"]).group_by("path").aggregate([]), keys="path", join_type="inner")
    if changed.num_rows:
        store.retire(changed.column("path").to_pylist())
    return todo, changed.num_rows


def index_archive(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model: str | keras.Model = "cnn14",
    *,
    outputs: str | Sequence[str] = ("tags",),
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    top_k: int = 5,
    batch_size: int = 8,
    model_workers: int = 1,
    address: str | None = None,
    num_cpus: int | None = None,
    runtime: str = "auto",
    precision: str = "auto",
    calibration: str | os.PathLike | Sequence[str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    high: float = 0.5,
    low: float = 0.2,
    median_window: int = 1,
    min_duration: float = 0.0,
    recursive: bool = True,
    s3_endpoint: str | None = None,
    segment_windows: int = 32,
    commit_every: int = 64,
    commit_seconds: float = 30.0,
    progress: bool | None = None,
    gpus_per_worker: float = 0,
    model_source: str | os.PathLike | None = None,
) -> IndexSummary:
    """Indexes every audio file under `sources` into Parquet tables at `out`, on Ray Data.

    Rerunning the same call resumes: files already committed (same path, size and mtime) are skipped
    before decoding, and a file whose size or mtime changed since is indexed anew, its old rows retired
    (`IndexStore.retire`), so each file is in the index once; an index made with another model, weights,
    window, hop or outputs is refused with what differs. Files that cannot be used land in the `errors`
    table and the rest is indexed.

    Args:
        sources: str or list of str: directories, globs, files, `.txt`/`.csv` lists, `s3://` URLs.
        out: str. The index directory (see `keras_panns.archive.store` for its tables).
        model: a `PANNsModel`, or a zoo name / checkpoint path to load.
        outputs: iterable of "tags", "scores", "embeddings", "events".
        window_seconds: float. The windows of `tag_long` (events: of `detect_events_long`).
        hop_seconds: float. The windows of `tag_long` (events: of `detect_events_long`).
        top_k: int. Tags kept per window.
        batch_size: int. Windows per forward pass.
        model_workers: int. Model actors (each a copy of the model; one GPU each with `gpus_per_worker=1`).
        address: str or None. A Ray cluster (`host:port`, `auto`); default `$RAY_ADDRESS`, else a local Ray.
        num_cpus: int or None. CPUs of the local Ray (default: all).
        runtime: the forward pass, as `keras_panns.tag`.
        precision: the forward pass, as `keras_panns.tag`.
        calibration: the forward pass, as `keras_panns.tag`.
        cache_dir: the forward pass, as `keras_panns.tag`.
        threads: the forward pass, as `keras_panns.tag`.
        high: event detection, as `detect_events_long`.
        low: event detection, as `detect_events_long`.
        median_window: event detection, as `detect_events_long`.
        min_duration: event detection, as `detect_events_long`.
        recursive: bool. Directories include their subdirectories.
        s3_endpoint: str or None. The S3 endpoint of `s3://` sources (default `$AWS_ENDPOINT_URL`).
        segment_windows: int. Windows per decoding task (a long file is decoded by several tasks).
        commit_every: a part of the tables is committed after this many finished files
            or seconds, whichever comes first (what a crash can cost).
        commit_seconds: a part of the tables is committed after this many finished files
            or seconds, whichever comes first (what a crash can cost).
        progress: bool or None. A progress bar (default: when stderr is a terminal).
        gpus_per_worker: float. GPUs per model actor (0: CPU).
        model_source: str or None. Where `model`, when given as a model object, was loaded from (a local
            path or card name): recorded for `search --like`, and with it a rerun over a finished index
            returns without loading the model (see `finished_rerun`). A `model` given as a str is its own.

    Returns:
        `IndexSummary`.

    Raises:
        ArchiveError: no audio in the sources, `out` not writable or made otherwise, a cluster that cannot
            be reached or lacks keras-panns, outputs the model does not have.

    Example:
    ```python
    summary = keras_panns.index_archive(["archive/"], "archive.index", "cnn14", outputs=["tags", "embeddings"])
    print(summary)
    windows = pandas.read_parquet("archive.index/windows")
    ```
    """
    started = time.perf_counter()
    _require_packages()
    outputs = _outputs(outputs)
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise ArchiveError("no sources given")
    source = model if isinstance(model, (str, os.PathLike)) else model_source
    store = IndexStore(out)
    event_options = _event_options(outputs, high, low, median_window, min_duration)
    files = list_sources(sources, recursive=recursive, s3_endpoint=s3_endpoint)
    resume = _resume_options(outputs, window_seconds, hop_seconds, top_k, event_options)
    stat = source_stat(source)
    finished = _finished_without_model(store, files, stat, resume, runtime, precision)
    if finished is not None:
        finished.seconds = time.perf_counter() - started
        return finished
    if gpus_per_worker:
        _share_gpus()
    loaded = _load(model, cache_dir)
    if "events" in outputs:
        loaded = _frame_scoring(loaded)
    _check_outputs(loaded, outputs)
    choice = _runtime_choice(loaded, store, runtime, precision, calibration, cache_dir, threads)
    manifest = _manifest(loaded, outputs, window_seconds, hop_seconds, top_k, event_options, choice)
    # Not part of the fingerprint (the same weights may come from another path): where `search --like` finds
    # the model to embed a query with, checked there against weights_sha256; and what the model file was when
    # its weights were hashed, so that a rerun with nothing left to do need not load it again.
    manifest["model_source"] = _model_source(source)
    manifest["model_source_stat"] = stat
    store.open(manifest)
    todo, changed = _todo(files, store)
    summary = _starting_summary(out, files, todo, choice, changed)
    if todo.num_rows:
        settings = _settings(
            loaded, window_seconds, hop_seconds, bool(event_options), segment_windows, outputs, s3_endpoint
        )
        options = _JobOptions(
            address=address or os.environ.get("RAY_ADDRESS"),
            num_cpus=num_cpus,
            model_workers=model_workers,
            batch_size=batch_size,
            calibration=calibration,
            cache_dir=cache_dir,
            threads=threads,
            gpus_per_worker=gpus_per_worker,
            commit_every=commit_every,
            commit_seconds=commit_seconds,
            progress=progress,
        )
        _run(todo, settings, loaded, choice, manifest, store, summary, options)
    summary.seconds = time.perf_counter() - started
    return summary


def _outputs(outputs):
    return tuple(sorted({o.strip() for o in ([outputs] if isinstance(outputs, str) else outputs) if o.strip()}))


def _event_options(outputs, high, low, median_window, min_duration):
    if "events" not in outputs:
        return None
    return {"high": high, "low": low, "median_window": int(median_window), "min_duration": min_duration}


def _resume_options(outputs, window_seconds, hop_seconds, top_k, event_options):
    """The fingerprint's entries that the arguments decide (the model's come from its weights)."""
    return {
        "window_seconds": float(window_seconds),
        "hop_seconds": float(hop_seconds),
        "outputs": list(outputs),
        "top_k": int(top_k),
        "events": event_options,
    }


def finished_rerun(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model_source: str | os.PathLike,
    *,
    outputs: str | Sequence[str] = ("tags",),
    window_seconds: float = 10.0,
    hop_seconds: float = 5.0,
    top_k: int = 5,
    runtime: str = "auto",
    precision: str = "auto",
    high: float = 0.5,
    low: float = 0.2,
    median_window: int = 1,
    min_duration: float = 0.0,
    recursive: bool = True,
    s3_endpoint: str | None = None,
) -> IndexSummary | None:
    """The summary of an `index_archive` rerun that has nothing left to do, found without loading the model.

    The rerun of a finished job (the same command again) costs a listing of the sources and a read of
    the index's file table: no Keras, no Ray. It applies only when the index was made from this same
    local checkpoint or preset, unchanged since (its files' sizes and mtimes, recorded in the manifest
    beside the weights' sha256), with these window, hop, outputs, top-k, events and runtime, and when
    every listed file is already in the index. Otherwise it returns None and `index_archive` does the job,
    loading and fingerprinting the model as usual. `keras-panns index` calls it first.

    Args:
        sources: as `index_archive`.
        out: as `index_archive`.
        model_source: the local checkpoint file or preset directory the model is loaded from.
        outputs: as `index_archive`.
        window_seconds: as `index_archive`.
        hop_seconds: as `index_archive`.
        top_k: as `index_archive`.
        runtime: as `index_archive`.
        precision: as `index_archive`.
        high: as `index_archive`.
        low: as `index_archive`.
        median_window: as `index_archive`.
        min_duration: as `index_archive`.
        recursive: as `index_archive`.
        s3_endpoint: as `index_archive`.

    Returns:
        `IndexSummary` (nothing indexed, every file skipped), or None.

    Raises:
        ArchiveError: the sources hold no audio, or the index's manifest is unreadable.

    Example:
    ```python
    summary = finished_rerun(["archive/"], "archive.index", "Cnn14_mAP=0.431.pth")
    if summary is None:
        summary = keras_panns.index_archive(["archive/"], "archive.index", "Cnn14_mAP=0.431.pth")
    ```
    """
    started = time.perf_counter()
    _require_packages(ray=False)
    stat = source_stat(model_source)
    if stat is None or not os.path.exists(os.path.join(os.fspath(out), MANIFEST)):
        return None
    outputs = _outputs(outputs)
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    files = list_sources(sources, recursive=recursive, s3_endpoint=s3_endpoint)
    event_options = _event_options(outputs, high, low, median_window, min_duration)
    options = _resume_options(outputs, window_seconds, hop_seconds, top_k, event_options)
    finished = _finished_without_model(IndexReader(out), files, stat, options, runtime, precision)
    if finished is not None:
        finished.seconds = time.perf_counter() - started
    return finished


def source_stat(model):
    """(name, size, mtime_ns) of a local checkpoint file, or of every file of a preset directory; else None.

    Recorded in the manifest beside the weights' sha256: while it is the same, so are the weights.

    Args:
        model: what `index` was given as its model (a path, a card name or a model object).

    Returns:
        A list of `[relative name, size, mtime_ns]`, or None when `model` is not a local path.

    Example:
    ```python
    source_stat("Cnn14_mAP=0.431.pth")  # [['Cnn14_mAP=0.431.pth', 327428481, 1733...]]
    ```
    """
    if not isinstance(model, (str, os.PathLike)) or not os.path.exists(model):
        return None
    root = os.path.abspath(model)
    if os.path.isfile(root):
        stat = os.stat(root)
        return [[os.path.basename(root), stat.st_size, stat.st_mtime_ns]]
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            found.append([os.path.relpath(os.path.join(folder, name), root), stat.st_size, stat.st_mtime_ns])
    return sorted(found)


def _finished_without_model(store, files, stat, options, runtime, precision):
    """The summary of a rerun with nothing left to do, found without loading the model; else None.

    Only when the index was made from this same local model file (`stat`: its `source_stat` now) with these
    window, hop, outputs, top-k, events and runtime: then its fingerprint is this run's, and every
    listed file is already in it. In every other case the model is loaded and checked as usual.
    """
    old = store.read_manifest()
    if old is None or stat is None or old.get("model_source_stat") != stat:
        return None
    if any(old.get(key) != value for key, value in options.items()):
        return None
    if not _same_runtime(old["runtime"], runtime, precision):
        return None
    if _not_done(files, store.done_keys()).num_rows:
        return None
    runtime_used = old["runtime"]
    return IndexSummary(
        out=store.root,
        files=files.num_rows,
        skipped=files.num_rows,
        indexed=0,
        failed=0,
        windows=0,
        audio_hours=0.0,
        seconds=0.0,
        runtime=f"{runtime_used['runtime']} {runtime_used['precision']} (as the index was made; nothing left to run)",
    )


def _same_runtime(made_on, runtime, precision):
    """Whether these flags are sure to run on the path the index was made on (which `store.open` checks)."""
    if (runtime, precision) == ("auto", "auto"):
        return True  # a resumed auto job keeps the path it was made on (_runtime_choice)
    if runtime == "keras" and precision in ("auto", "float32"):
        return made_on == {"runtime": "keras", "precision": "float32"}  # Keras runs float32 only
    return made_on == {"runtime": runtime, "precision": precision}


def _model_source(model):
    """Where `search --like` finds the model again: an absolute path, a card name, or None for a model object."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    return os.path.abspath(model) if os.path.exists(model) else os.fspath(model)


def _starting_summary(out, files, todo, choice, changed):
    return IndexSummary(
        out=os.fspath(out),
        files=files.num_rows,
        skipped=files.num_rows - todo.num_rows,
        indexed=0,
        failed=0,
        windows=0,
        audio_hours=0.0,
        seconds=0.0,
        runtime=f"{choice.runtime} {choice.precision} ({choice.reason})",
        changed=changed,
    )


def _settings(model, window_seconds, hop_seconds, events, segment_windows, outputs, s3_endpoint):
    return job.Settings(
        model.name,
        model.sample_rate,
        int(model.min_samples),
        float(window_seconds),
        float(hop_seconds),
        int(model.config["hop_size"]) if events else 1,
        int(segment_windows),
        outputs,
        s3_endpoint,
    )


def _runtime_choice(model, store, runtime, precision, calibration, cache_dir, threads):
    """The runtime's `Choice` for the job: an index resumed with `auto` keeps the path it was made on."""
    from keras_panns.errors import RuntimeUnavailableError
    from keras_panns.runtimes import decide

    old = store.read_manifest()
    if old is not None and runtime == "auto" and precision == "auto":
        runtime, precision = old["runtime"]["runtime"], old["runtime"]["precision"]  # resume on the same path
    try:  # the actors build the runner; here only its Choice is needed (decide builds none when it can)
        return decide(model, runtime, precision, calibration=calibration, cache_dir=cache_dir, threads=threads)
    except RuntimeUnavailableError as exc:
        raise ArchiveError(f"runtime {runtime} {precision}: {exc}") from exc


@dataclasses.dataclass(frozen=True)
class _JobOptions:
    """How the job runs on Ray; none of it changes what the tables hold (see `index` for each field)."""

    address: str | None
    num_cpus: int | None
    model_workers: int
    batch_size: int
    calibration: object
    cache_dir: object
    threads: int | None
    gpus_per_worker: float
    commit_every: int
    commit_seconds: float
    progress: bool | None


class _Committer:
    """Gathers finished files and commits them as one part once enough files or seconds have gone by."""

    def __init__(self, store, summary, bar, options):
        self.store, self.summary, self.bar = store, summary, bar
        self.every, self.seconds = options.commit_every, options.commit_seconds
        self.pending, self.last = [], time.monotonic()

    def add(self, finished):
        self.pending.extend(finished)
        if len(self.pending) >= self.every or (self.pending and time.monotonic() - self.last >= self.seconds):
            self.commit()

    def commit(self):
        if not self.pending:
            return
        rows = {}
        for finished in self.pending:
            for table, table_rows in finished.items():
                rows.setdefault(table, []).extend(table_rows)
        self.store.commit(rows)
        summary = self.summary
        for finished in self.pending:
            file_row = finished["files"][0]
            if file_row["status"] == "ok":
                summary.indexed += 1
                summary.windows += file_row["windows"]
                summary.audio_hours += file_row["duration"] / 3600
            else:
                summary.failed += 1
        self.bar.update(len(self.pending))
        self.bar.set_postfix_str(f"{summary.audio_hours:.2f} h, {summary.failed} failed", refresh=False)
        self.pending, self.last = [], time.monotonic()


@contextlib.contextmanager
def _quiet_ray_data():
    """Ray Data's console notes (execution plan, "progress bars disabled", "finished in N s") off for the job.

    The job has its own progress bar and summary line; Ray Data's log files under the session keep every
    note, and errors still reach the console.
    """
    import logging

    consoles = [
        handler
        for handler in logging.getLogger("ray.data").handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    levels = [handler.level for handler in consoles]
    for handler in consoles:
        handler.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for handler, level in zip(consoles, levels):
            handler.setLevel(level)


def _run(todo, settings, model, choice, manifest, store, summary, options):
    from tqdm.auto import tqdm

    labels = model.labels
    payload = job.model_payload(model)
    show = sys.stderr.isatty() if options.progress is None else options.progress
    bar = tqdm(total=todo.num_rows, unit="file", desc="indexing", file=sys.stderr, disable=not show)
    with _RaySession(options.address, options.num_cpus) as ray, _quiet_ray_data():
        dataset = job.build_dataset(
            todo,
            settings,
            ray.put(payload),
            choice,
            model_workers=options.model_workers,
            batch_size=options.batch_size,
            calibration=options.calibration,
            cache_dir=options.cache_dir,
            threads=options.threads,
            gpus_per_worker=options.gpus_per_worker,
        )
        del payload
        assembler = FileAssembler(manifest, labels)
        committer = _Committer(store, summary, bar, options)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            committer.add(assembler.add(batch))
        committer.commit()
    bar.close()
    if assembler.open:
        raise ArchiveError(
            f"{len(assembler.open)} files lost windows in the job (e.g. "
            f"{next(iter(assembler.open))[0]}); run the same command again to index them"
        )
