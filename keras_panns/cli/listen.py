"""Tags and detects sound events live: from the microphone, a file, or raw PCM on stdin.

Audio is cut into windows of --window seconds every --hop seconds as it
arrives; each window's top-k tags are printed as soon as it is complete,
and each sound event is reported once when it starts and once when it ends
(hysteresis with --high/--low, as `keras-panns sed`). The results equal
those of `keras-panns sed` with the same flags on the same audio; an event
start comes about one window after its onset, once every window covering it
has been scored. Nothing is reported before the first full window (PANNs
pool over their whole input; padding would change the scores).

Input:
  (default)       the default microphone (needs the sounddevice package and PortAudio)
  --input FILE    an audio file, as fast as possible or, with --realtime, at its own pace
  --input -       raw PCM on stdin: --sample_rate, --channels, --dtype s16|f32 (little-endian)

Output: a live view on the terminal, or --format jsonl: one JSON object per
result with kind (tags, event_start, event_end), label, index, onset and
offset (seconds from the start; offset null while an event is open), score
and reported_at (seconds of audio consumed when it was reported). Ctrl-C or
the end of the input closes the open events and exits 0; a vanished device,
a closed pipe or bad samples (NaN) report the events still open, then exit 1.

Examples:
  keras-panns listen
  keras-panns listen --input street.wav --realtime --group Vehicle
  ffmpeg -i URL -f s16le -ac 1 -ar 32000 - | keras-panns listen --input - --sample_rate 32000 --format jsonl
"""

import json
import sys
import time

import numpy as np
from absl import app

from keras_panns.cli.common import (
    check_audioset_model,
    define_event_flags,
    define_group_flags,
    define_model_flags,
    define_runtime_flags,
    event_thresholds,
    frame_scoring_model,
    group_classes,
    load_model,
    runtime_runner,
)

USAGE = "[--input FILE|- [--sample_rate HZ --channels N --dtype s16|f32]] [--window S] [--hop S] [--format live|jsonl]"

_BLOCK_SECONDS = 0.1  # how much audio is read and pushed at a time


def define_flags(fv):
    from absl import flags

    define_model_flags(
        fv,
        "cnn14_decision_level_max",
        "Zoo name of a SED model (a Cnn14 tagger runs its decision-level forward; other taggers give tags only).",
    )
    flags.DEFINE_string(
        "input", None, "An audio file, or - for raw PCM on stdin (default: the microphone).", flag_values=fv
    )
    flags.DEFINE_integer(
        "sample_rate",
        None,
        "Rate of raw PCM on stdin (or of the microphone; default: the model's).",
        lower_bound=1000,
        upper_bound=768000,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "channels",
        1,
        "Channels of raw PCM on stdin or of the microphone (mixed to mono).",
        lower_bound=1,
        upper_bound=64,
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "dtype", "s16", ["s16", "f32"], "Sample type of raw PCM on stdin (little-endian).", flag_values=fv
    )
    flags.DEFINE_string(
        "device", None, "Microphone: a sounddevice device index or name (default: the system's).", flag_values=fv
    )
    flags.DEFINE_boolean("realtime", False, "With --input FILE: feed it at its own pace, as if live.", flag_values=fv)
    flags.DEFINE_float(
        "window",
        None,
        "Window length in seconds (default 5; the delay of event reports grows with it).",
        lower_bound=0.5,
        flag_values=fv,
    )
    flags.DEFINE_float(
        "hop",
        None,
        "Step between windows in seconds (default 0.5 for models under 10 M parameters, else 1).",
        lower_bound=0.01,
        flag_values=fv,
    )
    define_event_flags(fv)
    flags.DEFINE_integer("top_k", 3, "Tags reported per window (0: events only).", lower_bound=0, flag_values=fv)
    define_group_flags(fv)
    define_runtime_flags(fv)
    flags.DEFINE_enum("format", "live", ["live", "jsonl"], "A live view, or one JSON object per line.", flag_values=fv)
    flags.register_multi_flags_validator(
        ["input", "realtime"],
        lambda f: not f["realtime"] or f["input"] not in (None, "-"),
        message="--realtime paces a file: give --input FILE",
        flag_values=fv,
    )


# --- sources: each yields (block, sample_rate) ---------------------------------------------------


def _file_blocks(path, realtime):
    from keras_panns.audio import AudioFile

    audio = AudioFile(path)
    block = max(1, int(audio.sample_rate * _BLOCK_SECONDS))
    started = time.monotonic()
    for start in range(0, audio.frames, block):
        if realtime:
            time.sleep(max(0.0, start / audio.sample_rate - (time.monotonic() - started)))
        yield audio.read(start, block), audio.sample_rate


def _stdin_blocks(rate, channels, dtype):
    sample = np.dtype("<i2" if dtype == "s16" else "<f4")
    frame_bytes = sample.itemsize * channels
    block_bytes = max(1, int(rate * _BLOCK_SECONDS)) * frame_bytes
    stream, pending = sys.stdin.buffer, b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        pending += data
        usable = len(pending) // frame_bytes * frame_bytes
        if usable:
            yield np.frombuffer(pending[:usable], sample).reshape(-1, channels), rate
            pending = pending[usable:]
    if pending:
        print(
            f"keras-panns listen: the input ended inside a sample frame; {len(pending)} bytes dropped", file=sys.stderr
        )


def _microphone_blocks(rate, channels, device):
    from keras_panns.errors import AudioError

    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the package is there but PortAudio is not
        raise AudioError(
            f"no microphone input: the sounddevice package and PortAudio are needed "
            f"(pip install sounddevice; {exc}); or use --input FILE or --input -"
        ) from exc
    device = int(device) if device is not None and device.isdigit() else device
    try:
        stream = sounddevice.InputStream(
            samplerate=rate, channels=channels, dtype="float32", device=device, blocksize=int(rate * _BLOCK_SECONDS)
        )
        stream.start()
    except Exception as exc:  # PortAudioError, ValueError: no such device, no input device at all
        raise AudioError(f"cannot open the microphone{f' {device!r}' if device is not None else ''}: {exc}") from exc
    try:
        while True:
            try:
                block, _ = stream.read(int(rate * _BLOCK_SECONDS))
            except Exception as exc:  # the device went away mid-stream
                raise AudioError(f"the microphone stopped delivering audio: {exc}") from exc
            yield block, rate
    finally:
        try:
            stream.close()
        except Exception:  # closing a device that vanished can fail too; nothing is left to save
            pass


# --- output ---------------------------------------------------------------------------------------


class _Printer:
    def __init__(self, form, out=None):
        self.form, self.out = form, out or sys.stdout
        self.window = None

    def __call__(self, results):
        for result in results:
            if self.form == "jsonl":
                self.out.write(json.dumps(result.to_dict()) + "\n")
            elif result.kind == "tags":
                if self.window != (result.onset, result.offset):
                    self.window = (result.onset, result.offset)
                    self.out.write(f"\n{result.onset:8.1f}-{result.offset:.1f} s ")
                self.out.write(f"  {result.label} {result.score:.2f}")
            else:
                mark = "start" if result.kind == "event_start" else "end  "
                span = f"{result.onset:.2f} s" + ("" if result.offset is None else f" - {result.offset:.2f} s")
                self.out.write(f"\n  [{mark}] {result.label} ({result.score:.2f})  {span}")
        if results:
            if self.form == "live":
                self.out.write("\n" if results[-1].kind != "tags" else "")
            self.out.flush()

    def close(self):
        if self.form == "live" and self.window is not None:
            self.out.write("\n")
            self.out.flush()


def run(args, fv):
    from keras_panns.errors import PANNsError
    from keras_panns.streaming import Stream

    _check_input_flags(args, fv)
    classes = group_classes(fv)
    model = frame_scoring_model(load_model(fv), "listen")
    check_audioset_model(model, classes)
    high, low = event_thresholds(fv, model)
    stream = Stream(
        model,
        window_seconds=fv.window,
        hop_seconds=fv.hop,
        top_k=fv.top_k,
        high=high,
        low=low,
        median_window=fv.median,
        min_duration=fv.min_duration,
        classes=classes,
        runtime=runtime_runner(model, fv),
    )
    blocks = _blocks(fv, model.sample_rate)
    show = _Printer(fv.format)
    if fv.format == "live":
        _announce(fv, model, stream)
    failure = None
    try:
        for block, rate in blocks:
            show(stream.push(block, sample_rate=rate))
    except KeyboardInterrupt:
        pass
    except PANNsError as exc:
        failure = exc
    finally:
        # Whatever ended the input, the events still open are reported before leaving.
        show(stream.close())
        show.close()
    if failure is not None:
        raise failure
    return 0


def _check_input_flags(args, fv):
    if args:
        raise app.UsageError(f"unexpected arguments {' '.join(args)} (the input is --input FILE or -)")
    if fv.input not in (None, "-") and fv.sample_rate:
        raise app.UsageError("--sample_rate is for raw PCM on stdin or the microphone; a file has its own rate")
    if fv.input == "-" and not fv.sample_rate:
        raise app.UsageError("raw PCM on stdin needs --sample_rate (and --channels if not mono)")


def _blocks(fv, model_rate):
    """(block, sample rate) pairs from stdin, a file or the microphone, as the flags say."""
    if fv.input == "-":
        return _stdin_blocks(fv.sample_rate, fv.channels, fv.dtype)
    if fv.input:
        return _file_blocks(fv.input, fv.realtime)
    return _microphone_blocks(fv.sample_rate or model_rate, fv.channels, fv.device)


def _announce(fv, model, stream):
    source = fv.input if fv.input not in (None, "-") else ("stdin" if fv.input else "the microphone")
    print(
        f"listening to {source} with {model.name}: {stream.window_seconds:g}-s windows every "
        f"{stream.hop_seconds:g} s (Ctrl-C to stop)",
        file=sys.stderr,
    )
