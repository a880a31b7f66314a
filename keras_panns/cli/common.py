"""Flags and model loading shared by the `keras-panns` subcommands that run a pretrained model."""

import sys


def define_model_flags(fv, default, model_help):
    """`--model`, `--checkpoint` and `--cache_dir`: which weights to load and where they are cached."""
    from absl import flags

    # Listed in --help with the calling command's own flags, not under this module.
    owner = sys._getframe(1).f_globals["__name__"]
    flags.DEFINE_string("model", default, model_help, flag_values=fv, module_name=owner)
    flags.DEFINE_string("checkpoint", None, "An official .pth file, a preset directory, a .keras file or an "
                        "http(s) URL; overrides --model.", flag_values=fv, module_name=owner)
    flags.DEFINE_string("cache_dir", None, "Cache of downloads and converted weights "
                        "(default $KERAS_PANNS_CACHE or ~/.cache/keras_panns).", flag_values=fv, module_name=owner)


def load_model(fv, command):
    """The model the flags name, or None after printing why it cannot be loaded."""
    import keras_panns
    from keras_panns.errors import DownloadError, PANNsError

    try:
        return keras_panns.from_pretrained(fv.checkpoint or fv.model, cache_dir=fv.cache_dir)
    except PANNsError as exc:
        hint = "\nOn the command line, pass a local file with --checkpoint PATH." if isinstance(exc, DownloadError) else ""
        print(f"keras-panns {command}: cannot load the model: {exc}{hint}", file=sys.stderr)
        return None
