"""The stages of an index job on Ray Data: decoding as CPU tasks, the model in a pool of actors.

What runs in the driver is `keras_panns.archive.driver`.

The pipeline streams, so memory stays flat whatever the archive's size:

1. `plan_segments` (CPU task): a file's length is read from its header and its
   windows (the same as `tag_long`'s, via `long_audio.plan_windows`) are cut
   into segments of `segment_windows`, so a long file is decoded by several
   tasks in parallel;
2. `decode_segment` (CPU task): reads and resamples each window of a segment
   with the one audio reader (`AudioFile.read_window`, exactly what the offline
   functions read); a file that cannot be read becomes one error row;
3. `ModelWorker` (actors, `model_workers` of them): batches of windows through
   the same runner as the other commands (`runtimes.get_runner`);
4. the driver (`FileAssembler`): gathers each file's windows (in any order,
   each window once even when Ray retries a task), stitches framewise scores
   into events in file order (`FrameStitcher` + `EventDetector`, as
   `detect_events_long`), and commits finished files to the `IndexStore`.
"""

import dataclasses
import os

import numpy as np

# Ray reads this when it is first imported: 0 keeps every socket of a local Ray on 127.0.0.1.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from keras_panns.archive import schema  # noqa: E402
from keras_panns.errors import AudioError, PANNsError  # noqa: E402

#: The least of Ray's object store a job may hold in flight (decoded windows waiting for the model, outputs).
OBJECT_STORE_BUDGET = 256 << 20
#: Batches in flight per model actor that the budget makes room for (its queue of 4 tasks, and the next).
BATCHES_IN_FLIGHT = 8


def object_store_budget(settings, model_workers, batch_size):
    """Bytes of the object store the job may use: enough batches of windows for every actor, at least 256 MiB."""
    window_bytes = 4 * int(round(settings.window_seconds * settings.sample_rate))
    return max(OBJECT_STORE_BUDGET, model_workers * BATCHES_IN_FLIGHT * batch_size * window_bytes)


_META = schema.in_flight()
# Typed defaults of an error row, so every block of a stage has the same column types.
_UNKNOWN = {"total": 0, "num_samples": 0, "duration": 0.0, "sample_rate": 0, "channels": 0}


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every stage needs to know about the job (picklable, sent to the tasks and actors).

    Attributes:
        name, sample_rate, min_samples: the model's name, rate and shortest input.
        window_seconds, hop_seconds: float. The windows, as `tag_long`.
        align: int. Window starts are multiples of it (the hop size when events are asked for).
        segment_windows: int. Windows decoded by one task.
        outputs: tuple of str.
        s3_endpoint: str or None.
    """

    name: str
    sample_rate: int
    min_samples: int
    window_seconds: float
    hop_seconds: float
    align: int
    segment_windows: int
    outputs: tuple
    s3_endpoint: str = None

    def check_input_length(self, num_samples, source=None):
        from keras_panns.audio import check_length  # not the model's method: decoding tasks never import Keras

        check_length(num_samples, self.min_samples, self.sample_rate, self.name, source)


def _meta(entry):
    return {key: entry[key] if key in entry else _UNKNOWN[key] for key in _META}


def _as_audio_error(exc, path):
    return exc if isinstance(exc, PANNsError) else AudioError(f"{path}: cannot read ({exc})")


def _error_row(entry, exc):
    return dict(_meta(entry), window=-1, start=0, wave=b"", error_reason=str(exc), error_class=type(exc).__name__)


def _open(entry, settings):
    from keras_panns.archive.sources import local_copy
    from keras_panns.audio import AudioFile

    if entry["size"] < 0:
        AudioFile(entry["path"])  # raises the reader's own "no such file" error
    return local_copy(entry["path"], settings.s3_endpoint)


def _plan(settings, audio):
    from keras_panns.long_audio import plan_windows

    return plan_windows(settings, audio, settings.window_seconds, settings.hop_seconds, None, settings.align)


def _channels(path):
    try:
        import soundfile

        return int(soundfile.info(path).channels)
    except Exception:  # decoded by librosa, which mixes to mono without saying how many channels there were
        return 0


def plan_segments(entry, settings):
    """The segments of one file: rows `(path, size, mtime, first, last, ...)`, or one error row."""
    from keras_panns.audio import AudioFile

    try:
        with _open(entry, settings) as local:
            audio = AudioFile(local)
            _, starts, _ = _plan(settings, audio)
            meta = dict(
                path=entry["path"],
                size=entry["size"],
                mtime=entry["mtime"],
                total=len(starts),
                num_samples=audio.num_samples(settings.sample_rate),
                duration=float(audio.duration),
                sample_rate=int(audio.sample_rate),
                channels=_channels(local),
            )
    except (PANNsError, OSError) as exc:
        exc = _as_audio_error(exc, entry["path"])
        return [dict(_meta(entry), first=0, last=0, error_reason=str(exc), error_class=type(exc).__name__)]
    # A file decoded whole (not a libsndfile format) is one segment: each segment would decode it again.
    step = settings.segment_windows if audio.seekable else max(1, len(starts))
    return [
        dict(meta, first=first, last=min(first + step, len(starts)), error_reason="", error_class="")
        for first in range(0, len(starts), step)
    ]


def decode_segment(segment, settings):
    """The windows of one segment as rows with the waveform as float32 bytes, or one error row."""
    from keras_panns.audio import AudioFile

    if segment["error_reason"]:
        return [
            dict(
                _meta(segment),
                window=-1,
                start=0,
                wave=b"",
                error_reason=segment["error_reason"],
                error_class=segment["error_class"],
            )
        ]
    rows = []
    try:
        with _open(segment, settings) as local:
            source, starts, length = _plan(settings, AudioFile(local))
            for window in range(segment["first"], segment["last"]):
                wave = np.ascontiguousarray(source.read(starts[window], length), np.float32)
                rows.append(
                    dict(
                        _meta(segment),
                        window=window,
                        start=starts[window],
                        wave=wave.tobytes(),
                        error_reason="",
                        error_class="",
                    )
                )
    except (PANNsError, OSError) as exc:
        return [_error_row(segment, _as_audio_error(exc, segment["path"]))]
    return rows


def model_payload(model):
    """What an actor needs to rebuild `model`: its class name, config and weights (for `ray.put`)."""
    return {"architecture": type(model).__name__, "config": model.get_config(), "weights": model.get_weights()}


def rebuild_model(payload):
    """The model of a `model_payload`."""
    from keras_panns.models import get_architecture

    model = get_architecture(payload["architecture"]).from_config(payload["config"])
    model.set_weights(payload["weights"])
    return model


class ModelWorker:
    """A Ray Data actor: windows in, the model's outputs out (as float32 bytes), error rows passed on.

    Args:
        payload: a `model_payload` (or an `ObjectRef` of one).
        runtime, precision: str. The concrete path the driver planned (`runtimes.plan_runtime`).
        options: `runtimes.RuntimeOptions` (calibration audio for int8, the cache folder, threads).
        batch_size: int or None. Windows of one length are run in batches of this many, a smaller rest padded
            with silence (outputs dropped) to the next power of two: a few input shapes per window length,
            which the runtimes compile once, whatever sizes Ray Data's batches come in (at most 2x the work
            of the rest, never more).
    """

    def __init__(self, payload, runtime, precision, options=None, batch_size=None):
        import ray

        from keras_panns.runtimes import get_runner

        if isinstance(payload, ray.ObjectRef):
            payload = ray.get(payload)
        self.model = rebuild_model(payload)
        self.runner = get_runner(self.model, runtime, precision, options)
        self.has_embedding = "embedding" in self.model.output
        self.has_framewise = "framewise_output" in self.model.output
        self.batch_size = batch_size

    def _forward(self, waves):
        """The runner's outputs for `waves` (n, samples), in padded batches of `batch_size`."""
        size = self.batch_size or len(waves)
        parts = []
        for first in range(0, len(waves), size):
            chunk = waves[first : first + size]
            rows = min(size, 1 << (len(chunk) - 1).bit_length())
            padded = np.concatenate([chunk, np.zeros((rows - len(chunk), chunk.shape[1]), np.float32)])
            outputs = self.runner(padded)
            parts.append({key: np.asarray(value)[: len(chunk)] for key, value in outputs.items()})
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def __call__(self, batch):
        n = len(batch["path"])
        out = {key: batch[key] for key in batch if key != "wave"}
        scores, embedding, framewise = [b""] * n, [b""] * n, [b""] * n
        todo = [i for i in range(n) if not batch["error_reason"][i]]
        by_length = {}
        for i in todo:
            by_length.setdefault(len(batch["wave"][i]), []).append(i)
        for rows in by_length.values():
            waves = np.stack([np.frombuffer(batch["wave"][i], np.float32) for i in rows])
            outputs = self._forward(waves)
            for j, i in enumerate(rows):
                scores[i] = np.asarray(outputs["clipwise_output"][j], np.float32).tobytes()
                if self.has_embedding:
                    embedding[i] = np.asarray(outputs["embedding"][j], np.float32).tobytes()
                if self.has_framewise:
                    framewise[i] = np.asarray(outputs["framewise_output"][j], np.float32).tobytes()
        out.update(
            scores=np.array(scores, dtype=object),
            embedding=np.array(embedding, dtype=object),
            framewise=np.array(framewise, dtype=object),
        )
        return out


def _files_per_block(files):
    """4 files per input block for small jobs, up to 256 for millions of files (bounds the driver's objects)."""
    return max(4, min(256, files // 200))


def build_dataset(
    todo,
    settings,
    payload_ref,
    choice,
    *,
    model_workers,
    batch_size,
    options,
    gpus_per_worker=0,
):
    """The streaming Ray Dataset of model outputs for the files of `todo` (a `pyarrow.Table`)."""
    import ray

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver shows one bar in files and hours
    context.verbose_stats_logs = False
    # Decoding is 10x faster than the model: unbounded, it runs ahead into the object store (the peak memory
    # then grows with the archive until Ray's budget). A bound keeps memory flat and the actors still fed.
    context.execution_options.resource_limits = ray.data.ExecutionResources(
        object_store_memory=object_store_budget(settings, model_workers, batch_size)
    )
    # Ray Data's defaults retry a task lost with its node (max_retries=-1) and restart a lost actor with
    # its in-flight batches (max_restarts=-1, max_task_retries=-1): a killed worker loses nothing.
    # One block per few files, so that decoding starts on every core at once and results stream back (one
    # block of the whole list would be decoded by one task, and nothing committed before it ends).
    step = _files_per_block(todo.num_rows)
    dataset = ray.data.from_arrow([todo.slice(i, step) for i in range(0, todo.num_rows, step)] or todo)
    dataset = dataset.flat_map(plan_segments, fn_kwargs={"settings": settings}, num_cpus=1)
    dataset = dataset.flat_map(decode_segment, fn_kwargs={"settings": settings}, num_cpus=1)
    return dataset.map_batches(
        ModelWorker,
        fn_constructor_kwargs={
            "payload": payload_ref,
            "runtime": choice.runtime,
            "precision": choice.precision,
            "options": options,
            "batch_size": batch_size,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=model_workers),
        num_cpus=1,
        num_gpus=gpus_per_worker or None,
    )
