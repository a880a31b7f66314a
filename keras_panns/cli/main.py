"""`keras-panns`: the command line of keras_panns.

Each subcommand is a module with a docstring (its help text), a
`define_flags(flag_values)` and a `run(args, flags)` returning the exit code.
Flags are absl flags, parsed per subcommand so `--help` lists only the ones
that apply; validators check them at parse time. Exit status: 0 done, 1 the
work failed (a `PANNsError`, or some input files failed), 2 a usage error
(`app.UsageError` or a flag that does not validate). Subcommands import
keras_panns inside `run`, so `--help` answers without starting Keras.
"""

import contextlib
import importlib
import importlib.abc
import os
import sys
import textwrap
import warnings

from absl import app, flags

from keras_panns.errors import PANNsError

COMMANDS = {
    "tag": ("keras_panns.cli.tag", "tag audio files with a pretrained model (top-k AudioSet labels)"),
    "sed": ("keras_panns.cli.sed", "detect sound events (onset, offset, label) and plot them"),
    "listen": ("keras_panns.cli.listen", "live tags and sound events from a microphone, a file or stdin"),
    "embed": ("keras_panns.cli.embed", "compute embeddings of audio files (per file or per window)"),
    "index": ("keras_panns.cli.index", "index a whole archive on Ray: tags, embeddings, events in Parquet"),
    "search": ("keras_panns.cli.search", "find sounds in an index: like a sound, by label or group, or both"),
    "label": ("keras_panns.cli.label", "add labels to an index (CSV, Raven, AudioSet) or write them out"),
    "review": ("keras_panns.cli.review", "a page to mark proposed windows of a class right or wrong, for label"),
    "calibrate": ("keras_panns.cli.calibrate", "per-class thresholds and calibration chosen on an index's labels"),
    "classify": (
        "keras_panns.cli.classify",
        "train a classifier head for your own classes on an index's embeddings, or apply one",
    ),
    "report": ("keras_panns.cli.report", "an HTML overview of an index: classes, hours, scores, errors, a map"),
    "pack": ("keras_panns.cli.pack", "pack audio clips into TFRecord shards for training"),
    "train": ("keras_panns.cli.train", "train a model on packed shards (PANNs recipe, resumable)"),
    "evaluate": ("keras_panns.cli.evaluate", "mAP, mean AUC and d-prime on packed shards"),
    "finetune": ("keras_panns.cli.finetune", "fine-tune on a labelled CSV with k-fold cross-validation"),
    "export": ("keras_panns.cli.export", "export a model to TFLite or ONNX, validated against Keras"),
    "demo": ("keras_panns.cli.demo", "build a web page that tags audio in the browser (onnxruntime-web)"),
    "models": ("keras_panns.cli.models", "list the pretrained models of the zoo"),
}


def _usage():
    lines = [
        "usage: keras-panns COMMAND [FLAGS] [ARGS]",
        "",
        "PANNs audio tagging models for Keras 3.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<9} {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "Run 'keras-panns COMMAND --help' for a command's flags."]
    return "\n".join(lines)


@contextlib.contextmanager
def _one_line_warnings():
    """Python warnings as `keras-panns: warning: ...`, one line each, without the source line behind them."""

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"keras-panns: warning: {message}", file=file or sys.stderr)

    shown = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


#: Modules that import JAX only if it is installed, for what keras-panns never does on the TensorFlow backend:
#: TensorFlow's TFLite utilities (for `TFLiteConverter.experimental_from_jax`) and Keras' Orbax callback (a
#: patch of `jax.monitoring`, for the JAX backend).
OPTIONAL_JAX_IMPORTERS = ("tensorflow/lite/python/util.py", "keras/src/callbacks/orbax_checkpoint.py")


class _NoJaxForTensorFlow(importlib.abc.MetaPathFinder):
    """Answers the optional `import jax` of `OPTIONAL_JAX_IMPORTERS` with ImportError, as if JAX were absent.

    `import tensorflow` and `import keras` each import JAX when it is installed: 2 s and 110 MB on every
    command that loads a model (2-core EPYC, `python -c "import tensorflow"`, 10.2-11.4 s against 8.6-9.2 s).
    Both catch the ImportError. Any other import of JAX goes through, and under `KERAS_BACKEND=jax` the
    finder is not installed. Canary: `test_tensorflow_and_keras_still_import_jax_on_their_own`.
    """

    def find_spec(self, name, path=None, target=None):
        if name == "jax":
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename.replace(os.sep, "/").endswith(OPTIONAL_JAX_IMPORTERS):
                    raise ImportError("keras-panns: JAX is not needed here on the TensorFlow backend")
                frame = frame.f_back
        return None


def _skip_jax_in_tensorflow():
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax" or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _NoJaxForTensorFlow) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoJaxForTensorFlow())


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if len(argv) >= 2 else 2
    command = argv[1]
    if command not in COMMANDS:
        print(f"keras-panns: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    # TensorFlow's C++ start-up chatter would drown the results; set before any import of it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _skip_jax_in_tensorflow()
    module = importlib.import_module(COMMANDS[command][0])
    flag_values = flags.FlagValues()
    module.define_flags(flag_values)
    if "--help" in argv[2:] or "-h" in argv[2:]:
        print(f"usage: keras-panns {command} {module.USAGE}\n")
        print(textwrap.dedent(module.__doc__).strip() + "\n")
        print("flags:")
        print(flag_values.get_help())
        return 0
    try:
        args = flag_values([f"keras-panns {command}"] + argv[2:])[1:]
        with _one_line_warnings():
            return module.run(args, flag_values)
    except (flags.Error, app.UsageError) as exc:
        print(f"keras-panns {command}: {exc}\nRun 'keras-panns {command} --help' for usage.", file=sys.stderr)
        return 2
    except PANNsError as exc:
        print(f"keras-panns {command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`keras-panns tag *.wav | head`); point stdout at /dev/null so that
        # Python's flush at exit cannot fail on the closed pipe a second time.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        print(f"keras-panns {command}: the output pipe was closed", file=sys.stderr)
        return 1
    except OSError as exc:
        # A file the command could not open or write (an output folder that does not exist, a full disk,
        # no permission): the user's to fix, named in one line. Errors of the work itself are PANNsErrors.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"keras-panns {command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def entry_point():
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
