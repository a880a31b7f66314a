"""Preset directories in keras-hub's layout: what `save_to_preset` writes and the preset loader reads.

A preset is a folder with
- `config.json`: `keras.saving.serialize_keras_object(model)` (module,
  class name, `registered_name` such as `keras_panns>Cnn14`, and the
  constructor config), so the class is found through Keras' registry;
- `model.weights.h5`: `model.save_weights`;
- `metadata.json`: Keras and keras_panns versions, parameter count, date,
  and the zoo card the weights came from (provenance, licence), if any;
- `README.md`: a model card.

That is the layout `keras_hub.upload_preset` publishes. Folders written by
keras_panns 0.1 (`config.json` holding `architecture`/`config`, `card.json`)
are still read.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil
import tempfile

import keras

from keras_panns.errors import CheckpointError, UnknownModelError
from keras_panns.hub.registry import get_architecture, is_architecture
from keras_panns.hub.zoo import ZooCard
from keras_panns.version import __version__

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
README_FILE = "README.md"
_LEGACY_CARD_FILE = "card.json"


def save_preset(
    model: keras.Model, directory: str | os.PathLike, card: ZooCard | None = None, overwrite: bool = True
) -> pathlib.Path:
    """Writes `model` as a preset directory (see the module docstring); returns its path.

    The files are written to a temporary folder beside `directory` and moved
    into place when complete, so an interrupted save leaves no half preset.

    Args:
        model: a PANNs model.
        directory: path. Created.
        card: `ZooCard` or None. Provenance to record (default: `model.card`).
        overwrite: bool. Replace an existing folder; if False, a folder that
            appeared meanwhile (another process's identical conversion) is kept.

    Returns:
        `pathlib.Path` of the directory.

    Example:
    ```python
    keras_panns.save_preset(model, "my_cnn14")   # = model.save_to_preset("my_cnn14")
    same = keras_panns.from_pretrained("my_cnn14")
    ```
    """
    directory = pathlib.Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        _write(model, staging, card if card is not None else getattr(model, "card", None))
        if directory.exists():
            if not overwrite:
                shutil.rmtree(staging)
                return directory
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _write(model, directory, card):
    config = keras.saving.serialize_keras_object(model)
    for key in ("build_config", "compile_config"):  # keras-hub drops these too: a preset is config + weights
        config.pop(key, None)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=4) + "\n")
    model.save_weights(str(directory / WEIGHTS_FILE))
    metadata = {
        "keras_version": keras.version(),
        "keras_panns_version": __version__,
        "parameter_count": model.count_params(),
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": [],
        "zoo_card": card.to_dict() if card is not None else None,
    }
    (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=4) + "\n")
    (directory / README_FILE).write_text(model_card(model, card))


def model_card(model, card=None):
    """The README.md of a preset: what the model is, where its weights come from, how to load it.

    Args:
        model: a `PANNsModel`.
        card: `ZooCard` or None. Where the weights come from; None: weights of no zoo checkpoint.

    Returns:
        str, Markdown with a Hugging Face front matter.

    Example:
    ```python
    model = keras_panns.Cnn14.from_pretrained()
    print(model_card(model, model.card))
    ```
    """
    arch = type(model).__name__
    lines = [
        "---",
        "library_name: keras",
        "tags:",
        "- audio-classification",
        "- audioset",
        "- panns",
        "---",
        "",
        f"# {card.name if card else model.name}: PANNs {arch} for Keras 3",
        "",
    ]
    lines.append(
        card.description
        if card and card.description
        else f"A {arch} audio tagger (Kong et al. 2020, PANNs) saved with keras-panns {__version__}."
    )
    lines += [
        "",
        f"- Input: mono float32 waveform at {model.sample_rate} Hz, at least {model.min_samples} samples.",
        f"- Outputs: {', '.join(sorted(model.output))}; {len(model.labels)} classes.",
    ]
    if card is not None:
        if card.metrics.get("mAP") is not None:
            lines.append(f"- AudioSet mAP {card.metrics['mAP']} ({card.metrics.get('source', 'paper')}).")
        lines.append(
            f"- Weights: {card.file_name} from {card.checkpoint.get('url') or 'a local file'}"
            f"{' (' + card.checksum + ')' if card.checksum else ''}; licence "
            f"{card.license.get('weights', 'unknown')} (code {card.license.get('code', 'unknown')})."
        )
        if card.origin:
            lines.append(f"- Origin: {card.origin}")
    lines += ["", "Config:", ""] + [f"- `{k}`: {v!r}" for k, v in model.get_config().items() if k != "labels"]
    lines += [
        "",
        "```python",
        "import keras_panns",
        "",
        'model = keras_panns.from_pretrained("path/to/this/preset")',
        'keras_panns.tag(model, "clip.wav", top_k=5)',
        "```",
        "",
    ]
    return "\n".join(lines)


def read_preset(directory):
    """`(architecture class, config, card or None)` of a preset directory.

    Args:
        directory: str or path-like.

    Returns:
        `(class, dict, ZooCard or None)`.

    Example:
    ```python
    arch, config, card = read_preset("my_cnn14")
    model = arch(**config)  # untrained; from_pretrained("my_cnn14") also loads the weights
    ```

    Raises:
        CheckpointError: the folder is not a preset (no or unreadable config, no weights).
        UnknownModelError: its class is not a registered PANNs architecture.
    """
    directory = pathlib.Path(directory)
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{directory} is not a keras_panns preset: cannot read {CONFIG_FILE} ({exc})") from exc
    if not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{directory} is not a keras_panns preset: {WEIGHTS_FILE} is missing")
    if "registered_name" in config:
        arch = keras.saving.get_registered_object(config["registered_name"])
        card = _card(_read_json(directory / METADATA_FILE).get("zoo_card"))
        arch_config = dict(config.get("config", {}))
    elif "architecture" in config:  # keras_panns 0.1 layout
        arch = get_architecture(config["architecture"])
        card = _card(_read_json(directory / _LEGACY_CARD_FILE) or None)
        arch_config = dict(config.get("config", {}))
    else:
        raise CheckpointError(f"{directory}/{CONFIG_FILE} names no class (no registered_name)")
    if not is_architecture(arch):
        raise UnknownModelError(
            f"{directory} holds {config.get('registered_name')!r}, which is not a registered keras_panns architecture"
        )
    return arch, arch_config, card


def _read_json(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path} ({exc})") from exc


def _card(data):
    return ZooCard.from_dict(data) if data else None
