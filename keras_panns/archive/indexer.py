"""`keras_panns.index_archive`: tag, detect and embed a whole archive on Ray Data, resumable, nothing lost.

With no cluster named, a local Ray is started for the job on this machine's
cores, with every socket on 127.0.0.1 and no dashboard (an exposed Ray runs
anyone's code: CVE-2023-48022), and stopped at the end; `address` (or
`$RAY_ADDRESS`) runs the same job on an existing cluster, where every node
needs keras-panns installed.

The job is described by `spec.IndexSpec` (what the tables hold) and
`spec.JobResources` (how it runs); `resume.PriorIndex` is what the index held
before, `driver.run_job` runs `stages` on the `ray_session.RaySession`, and
`store.IndexStore` writes the tables that `schema` declares.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from keras_panns.archive import schema, stages
from keras_panns.archive.ray_session import share_gpus
from keras_panns.archive.reader import FORMAT
from keras_panns.archive.resume import PriorIndex
from keras_panns.archive.sources import list_sources
from keras_panns.archive.spec import IndexSpec, JobResources, from_keywords
from keras_panns.archive.store import IndexStore
from keras_panns.decisions import labels_sha256
from keras_panns.errors import ArchiveError, CheckpointError
from keras_panns.hub.identity import source_stat
from keras_panns.runtimes.fingerprint import weights_sha256
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


def _manifest(model, spec, choice, source, stat):
    """The manifest of an index of `spec` made with `model` on `choice`'s path; its fingerprint decides reruns."""
    config = model.config
    embedding = model.output["embedding"].shape[-1] if "embedding" in model.output else 0
    return {
        "format": FORMAT,
        "package_version": __version__,
        "model": type(model).__name__,
        "model_name": model.name,
        "zoo_card": getattr(getattr(model, "card", None), "name", None),
        "weights_sha256": weights_sha256(model),
        "sample_rate": model.sample_rate,
        "front_end": {key: config[key] for key in _FRONT_END_KEYS if key in config},
        **spec.fingerprint(),
        "num_classes": len(model.labels),
        "embedding_size": int(embedding or 0),
        "labels_sha256": labels_sha256(model.labels),
        "labels": list(model.labels),
        "runtime": {"runtime": choice.runtime, "precision": choice.precision},
        # Not part of the fingerprint (the same weights may come from another path): where `search --like`
        # finds the model to embed a query with, checked there against weights_sha256; and what the model file
        # was when its weights were hashed, so that a rerun with nothing left to do need not load it again.
        "model_source": _model_source(source),
        "model_source_stat": stat,
    }


def _check_outputs(model, outputs):
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


def _load(model, cache_dir):
    if callable(model) and not hasattr(model, "predict_on_batch"):
        return model()  # the caller's loader, called only when there is work
    if not isinstance(model, (str, os.PathLike)):
        return model
    from keras_panns.hub import loaders
    from keras_panns.models import PANNsModel

    return loaders.load(PANNsModel, os.fspath(model), cache_dir=cache_dir)


def index_archive(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model: str | os.PathLike | keras.Model | Callable[[], keras.Model] = "cnn14",
    spec: IndexSpec | None = None,
    resources: JobResources | None = None,
    *,
    model_source: str | os.PathLike | None = None,
    **options: object,
) -> IndexSummary:
    """Indexes every audio file under `sources` into Parquet tables at `out`, on Ray Data.

    Rerunning the same call resumes: files already committed (same path, size and mtime) are skipped
    before decoding, and a file whose size or mtime changed since is indexed anew, its old rows retired
    (`IndexStore.retire`), so each file is in the index once; an index made with another model, weights,
    window, hop, outputs or runtime is refused with what differs. Files that cannot be used land in the
    `errors` table and the rest is indexed. A rerun with nothing left to do, of a model from a local
    checkpoint or preset unchanged since, is answered from the index without loading the model
    (`finished_rerun`); the sources are listed once either way.

    Args:
        sources: str or list of str: directories, globs, files, `.txt`/`.csv` lists, `s3://` URLs.
        out: str. The index directory (`keras_panns.archive.schema` declares its tables).
        model: a `PANNsModel`; a zoo name, checkpoint or preset path to load; or a function that returns the
            model, called only when there is work to do.
        spec: `IndexSpec`, what the tables hold (outputs, window, hop, top-k, event options, runtime).
        resources: `JobResources`, how the job runs (workers, batch, Ray address, CPUs, GPUs, commits, ...).
        model_source: str or None. Where a `model` object or function loads from (a local path or card
            name): recorded for `search --like`, and with it a rerun over a finished index returns without
            loading the model. A `model` given as a path or name is its own.
        **options: any field of `IndexSpec` or `JobResources` (`hop_seconds=2.0, model_workers=4`), over
            `spec` and `resources`.

    Returns:
        `IndexSummary`.

    Raises:
        ArchiveError: no audio in the sources, `out` not writable or made otherwise, a cluster that cannot
            be reached or lacks keras-panns, outputs the model does not have.
        TypeError: an option that is no field of `IndexSpec` or `JobResources`.

    Example:
    ```python
    summary = keras_panns.index_archive(["archive/"], "archive.index", "cnn14", outputs=["tags", "embeddings"])
    print(summary)
    windows = pandas.read_parquet("archive.index/windows")
    ```
    """
    started = time.perf_counter()
    spec, resources = from_keywords(spec, resources, **options)
    if isinstance(model, (str, os.PathLike)):
        model_source = model
    prior = PriorIndex(out)
    files = _list(sources, resources)
    stat = source_stat(model_source)
    if prior.finished(files, spec, stat):
        return _finished_summary(out, files, prior, started)
    _require_packages()
    store = IndexStore(out)  # an unwritable --out is said before the model is loaded
    if resources.gpus_per_worker:
        share_gpus()
    loaded = _load(model, resources.cache_dir)
    if "events" in spec.outputs:
        loaded = _frame_scoring(loaded)
    _check_outputs(loaded, spec.outputs)
    choice = _runtime_choice(loaded, prior, spec, resources)
    manifest = _manifest(loaded, spec, choice, model_source, stat)
    store.open(manifest)
    todo, changed = prior.todo(files, store)
    runtime = f"{choice.runtime} {choice.precision} ({choice.reason})"
    summary = _summary_before_the_job(
        out, files, skipped=files.num_rows - todo.num_rows, runtime=runtime, changed=changed
    )
    if todo.num_rows:
        from keras_panns.archive.driver import run_job

        run_job(todo, _settings(loaded, spec, resources), loaded, choice, manifest, store, summary, resources)
    summary.seconds = time.perf_counter() - started
    return summary


def finished_rerun(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    model_source: str | os.PathLike,
    spec: IndexSpec | None = None,
    resources: JobResources | None = None,
    **options: object,
) -> IndexSummary | None:
    """The summary of an `index_archive` rerun that has nothing left to do, found without loading the model.

    `index_archive` tries this first; on its own it answers "is this index finished?" for a script. The rerun
    of a finished job costs a listing of the sources and a read of the index's file table: no Keras, no Ray.
    It applies only when the index was made from this same local checkpoint or preset, unchanged since
    (`hub.identity.source_stat`, recorded in the manifest beside the weights' sha256), with the same `spec`
    fingerprint and a runtime the spec runs on, and when every listed file is in it
    (`resume.PriorIndex.finished`).

    Args:
        sources: as `index_archive`.
        out: as `index_archive`.
        model_source: str. The local checkpoint file or preset directory the model is loaded from.
        spec: as `index_archive`.
        resources: as `index_archive` (only `recursive` and `s3_endpoint` matter here).
        **options: as `index_archive`.

    Returns:
        `IndexSummary`, or None when the model must be loaded (the job is not finished, or it cannot be told
        without the model).

    Raises:
        ArchiveError: the sources hold no audio, or the index's manifest is unreadable.

    Example:
    ```python
    summary = keras_panns.archive.finished_rerun(["archive/"], "archive.index", "Cnn14_mAP=0.431.pth")
    if summary is None:
        summary = keras_panns.index_archive(["archive/"], "archive.index", "Cnn14_mAP=0.431.pth")
    ```
    """
    started = time.perf_counter()
    spec, resources = from_keywords(spec, resources, **options)
    stat = source_stat(model_source)
    prior = PriorIndex(out)
    if stat is None or prior.manifest is None:
        return None
    files = _list(sources, resources)
    return _finished_summary(out, files, prior, started) if prior.finished(files, spec, stat) else None


def _list(sources, resources):
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise ArchiveError("no sources given")
    _require_packages(ray=False)
    return list_sources(sources, recursive=resources.recursive, s3_endpoint=resources.s3_endpoint)


def _finished_summary(out, files, prior, started):
    made_on = prior.manifest["runtime"]
    runtime = f"{made_on['runtime']} {made_on['precision']} (as the index was made; nothing left to run)"
    summary = _summary_before_the_job(out, files, skipped=files.num_rows, runtime=runtime, changed=0)
    summary.seconds = time.perf_counter() - started
    return summary


def _model_source(model):
    """Where `search --like` finds the model again: an absolute path, a card name, or None for a model object."""
    if not isinstance(model, (str, os.PathLike)):
        return None
    return os.path.abspath(model) if os.path.exists(model) else os.fspath(model)


def _summary_before_the_job(out, files, *, skipped, runtime, changed):
    """A run's summary before the job counts anything: what the sources hold and what was done already."""
    return IndexSummary(
        out=os.fspath(out),
        files=files.num_rows,
        skipped=skipped,
        indexed=0,
        failed=0,
        windows=0,
        audio_hours=0.0,
        seconds=0.0,
        runtime=runtime,
        changed=changed,
    )


def _settings(model, spec, resources):
    return stages.Settings(
        name=model.name,
        sample_rate=model.sample_rate,
        min_samples=int(model.min_samples),
        window_seconds=spec.window_seconds,
        hop_seconds=spec.hop_seconds,
        align=int(model.config["hop_size"]) if spec.event_options else 1,
        segment_windows=int(resources.segment_windows),
        outputs=spec.outputs,
        s3_endpoint=resources.s3_endpoint,
    )


def _runtime_choice(model, prior, spec, resources):
    """The runtime's `Choice` for the job: an index resumed with `auto` keeps the path it was made on."""
    from keras_panns.errors import RuntimeUnavailableError
    from keras_panns.runtimes import plan_runtime

    runtime, precision = prior.runtime_request(spec)
    try:  # the actors build the runner; here only its Choice is needed (plan_runtime builds none when it can)
        return plan_runtime(model, runtime, precision, resources.runtime_options())
    except RuntimeUnavailableError as exc:
        raise ArchiveError(f"runtime {runtime} {precision}: {exc}") from exc
