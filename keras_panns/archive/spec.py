"""One index job, described as data: what its tables hold (`IndexSpec`) and how it runs (`JobResources`).

Everything that describes a job derives from these two: `index_archive`'s
and `finished_rerun`'s keyword arguments (`from_keywords`), the CLI's flags,
the manifest's fingerprint entries (`IndexSpec.fingerprint`) and so both
"same settings" checks: the writer's (`IndexStore.open`, over
`FINGERPRINT_KEYS`) and the model-free rerun's (`PriorIndex.finished`).

The fingerprint of an index is `FINGERPRINT_KEYS`: the spec's entries, the
model's (`MODEL_KEYS`: its class, weights, rate and front end) and the
runtime path the forward pass ran on. A rerun whose fingerprint differs is
refused; resources may change freely between runs.

Example:
```python
spec = IndexSpec(outputs=("tags", "embeddings"), hop_seconds=2.5)
resources = JobResources(model_workers=2, batch_size=16)
keras_panns.index_archive("recordings/", "recordings.index", "cnn14", spec, resources)
```
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from keras_panns.archive import schema
from keras_panns.errors import ArchiveError

#: The manifest's entries that the model decides (its weights, rate and front end).
MODEL_KEYS = ("model", "weights_sha256", "sample_rate", "front_end")


def _outputs(outputs):
    names = [outputs] if isinstance(outputs, str) else list(outputs)
    return tuple(sorted({o.strip() for o in names if o.strip()}))


@dataclasses.dataclass(frozen=True)
class IndexSpec:
    """What the index's tables hold: every field is part of the index's fingerprint.

    Attributes:
        outputs: tuple of str. What is stored per window (`schema.OUTPUTS`): tags, scores, embeddings, events.
        window_seconds: float. The windows of `tag_long` (events: of `detect_events_long`).
        hop_seconds: float. The step between windows.
        top_k: int. Tags kept per window.
        high: float. Event detection, as `detect_events_long` (with `events` only).
        low: float. Event detection, as `detect_events_long` (with `events` only).
        median_window: int. Event detection, as `detect_events_long` (with `events` only).
        min_duration: float. Event detection, as `detect_events_long` (with `events` only).
        event_points: tuple of `(class name, high, low)`: classes detected at their own high and low (with
            `events` only), as `OperatingPoints.event_thresholds` gives them; the others at `high` and `low`.
        runtime: str. The forward pass asked for, as `keras_panns.tag` (`auto` resumes on the path the index
            was made on).
        precision: str. As `keras_panns.tag`.

    Raises:
        ArchiveError: an unknown or empty `outputs`.

    Example:
    ```python
    IndexSpec(outputs="tags,events".split(","), high=0.6).fingerprint()["events"]["high"]  # 0.6
    ```
    """

    outputs: tuple = ("tags",)
    window_seconds: float = 10.0
    hop_seconds: float = 5.0
    top_k: int = 5
    high: float = 0.5
    low: float = 0.2
    median_window: int = 1
    min_duration: float = 0.0
    event_points: tuple = ()
    runtime: str = "auto"
    precision: str = "auto"

    def __post_init__(self):
        outputs = _outputs(self.outputs)
        unknown = sorted(set(outputs) - set(schema.OUTPUTS))
        if unknown or not outputs:
            raise ArchiveError(f"outputs {', '.join(unknown) or '(none)'}: choose from {', '.join(schema.OUTPUTS)}")
        object.__setattr__(self, "outputs", outputs)
        for name, kind in (("window_seconds", float), ("hop_seconds", float), ("top_k", int), ("median_window", int)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        points = tuple(sorted((str(n), float(h), float(lo)) for n, h, lo in self.event_points))
        bad = [n for n, h, lo in points if not 0.0 <= lo <= h <= 1.0]
        if bad:
            raise ArchiveError(f"event points need 0 <= low <= high <= 1; not so for {', '.join(bad)}")
        object.__setattr__(self, "event_points", points)

    @property
    def event_options(self):
        """The event detector's options (`high`, `low`, `median_window`, `min_duration`), or None without events.

        Example:
        ```python
        IndexSpec(outputs=("events",)).event_options  # {'high': 0.5, 'low': 0.2, ...}
        ```
        """
        if "events" not in self.outputs:
            return None
        return {
            "high": self.high,
            "low": self.low,
            "median_window": self.median_window,
            "min_duration": self.min_duration,
            "event_points": {name: [high, low] for name, high, low in self.event_points},
        }

    def fingerprint(self):
        """The manifest's entries this spec decides (`SPEC_KEYS`), as the manifest spells them.

        Returns:
            dict.

        Example:
        ```python
        IndexSpec().fingerprint()  # {'window_seconds': 10.0, 'hop_seconds': 5.0, 'outputs': ['tags'], ...}
        ```
        """
        return {
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "outputs": list(self.outputs),
            "top_k": self.top_k,
            "events": self.event_options,
        }

    def runs_on(self, made_on):
        """Whether this spec's runtime request is sure to run on `made_on`, the path an index was made on.

        Args:
            made_on: dict, the manifest's `runtime` entry (`{"runtime": ..., "precision": ...}`).

        Returns:
            bool.

        Example:
        ```python
        IndexSpec(runtime="keras").runs_on({"runtime": "keras", "precision": "float32"})  # True
        ```
        """
        if (self.runtime, self.precision) == ("auto", "auto"):
            return True  # a resumed auto job keeps the path it was made on (PriorIndex.runtime_request)
        if self.runtime == "keras" and self.precision in ("auto", "float32"):
            return made_on == {"runtime": "keras", "precision": "float32"}  # Keras runs float32 only
        return made_on == {"runtime": self.runtime, "precision": self.precision}


def comparable(key, value):
    """A manifest entry as it compares with another version's: what an older index left out, filled in.

    Args:
        key: str. A `FINGERPRINT_KEYS` entry.
        value: its value in a manifest (or a fingerprint).

    Returns:
        The value, with the defaults of fields added since.

    Example:
    ```python
    comparable("events", {"high": 0.5})  # {'event_points': {}, 'high': 0.5}
    ```
    """
    if key == "events" and isinstance(value, dict):
        return {"event_points": {}, **value}  # an index made before per-class event points has none
    return value


#: The manifest's entries an `IndexSpec` decides.
SPEC_KEYS = tuple(IndexSpec().fingerprint())
#: The manifest's entries that must be equal for a rerun to extend an index.
FINGERPRINT_KEYS = MODEL_KEYS[:2] + SPEC_KEYS[:2] + MODEL_KEYS[2:] + SPEC_KEYS[2:] + ("runtime",)


@dataclasses.dataclass(frozen=True)
class JobResources:
    """How an index job runs: none of it changes what the tables hold, so it may differ between runs.

    Attributes:
        batch_size: int. Windows per forward pass.
        model_workers: int. Model actors (each a copy of the model; one GPU each with `gpus_per_worker=1`).
        gpus_per_worker: float. GPUs per model actor (0: CPU).
        address: str or None. A Ray cluster (`host:port`, `auto`); default `$RAY_ADDRESS`, else a local Ray.
        num_cpus: int or None. CPUs of the local Ray (default: all).
        segment_windows: int. Windows per decoding task (a long file is decoded by several tasks).
        commit_every: int. A part of the tables is committed after this many finished files...
        commit_seconds: float. ... or this many seconds, whichever comes first (what a crash can cost).
        progress: bool or None. A progress bar (default: when stderr is a terminal).
        calibration: audio for int8, as `keras_panns.tag`.
        cache_dir: where compiled runtimes are cached, as `keras_panns.tag`.
        threads: int or None. Threads of the forward pass, as `keras_panns.tag`.
        recursive: bool. Directories among the sources include their subdirectories.
        s3_endpoint: str or None. The S3 endpoint of `s3://` sources (default `$AWS_ENDPOINT_URL`).

    Example:
    ```python
    JobResources(address="10.0.0.5:6379", model_workers=8, gpus_per_worker=1)
    ```
    """

    batch_size: int = 8
    model_workers: int = 1
    gpus_per_worker: float = 0
    address: str | None = None
    num_cpus: int | None = None
    segment_windows: int = 32
    commit_every: int = 64
    commit_seconds: float = 30.0
    progress: bool | None = None
    calibration: str | os.PathLike | Sequence[str] | None = None
    cache_dir: str | os.PathLike | None = None
    threads: int | None = None
    recursive: bool = True
    s3_endpoint: str | None = None

    def runtime_options(self):
        """The `runtimes.RuntimeOptions` of the model workers: calibration, cache folder and threads.

        Returns:
            `runtimes.RuntimeOptions`.

        Example:
        ```python
        JobResources(threads=2).runtime_options().threads  # 2
        ```
        """
        from keras_panns.runtimes.registry import RuntimeOptions

        return RuntimeOptions(calibration=self.calibration, cache_dir=self.cache_dir, threads=self.threads)

    @property
    def ray_address(self):
        """`address`, else `$RAY_ADDRESS`, else None (a local Ray for the job)."""
        return self.address or os.environ.get("RAY_ADDRESS")


def from_keywords(spec=None, resources=None, **overrides):
    """`(IndexSpec, JobResources)`: `spec` and `resources` (or the defaults) with `overrides` applied.

    Each override names a field of one of the two, so the long keyword form of `index_archive` (`hop_seconds=2.0,
    model_workers=4`) and the typed form describe the same job.

    Args:
        spec: `IndexSpec` or None.
        resources: `JobResources` or None.
        **overrides: fields of either.

    Returns:
        `(IndexSpec, JobResources)`.

    Raises:
        TypeError: an override that is a field of neither (named, with the fields).

    Example:
    ```python
    spec, resources = from_keywords(outputs=["tags", "events"], model_workers=2)
    ```
    """
    spec, resources = spec or IndexSpec(), resources or JobResources()
    spec_fields = {f.name for f in dataclasses.fields(IndexSpec)}
    resource_fields = {f.name for f in dataclasses.fields(JobResources)}
    unknown = sorted(set(overrides) - spec_fields - resource_fields)
    if unknown:
        raise TypeError(
            f"unknown index option {', '.join(unknown)}; IndexSpec takes {', '.join(sorted(spec_fields))}, "
            f"JobResources takes {', '.join(sorted(resource_fields))}"
        )
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if k in spec_fields})
    resources = dataclasses.replace(resources, **{k: v for k, v in overrides.items() if k in resource_fields})
    return spec, resources
