"""`from_pretrained`: resolve a source, fetch and convert once, build, load.

A source is a zoo name, an official `.pth` path or file name, a preset
directory or an http(s) URL. Official checkpoints are converted once and the
Keras weights cached as a preset directory (`config.json`, `model.weights.h5`,
`card.json`), so later loads skip the PyTorch pickle entirely.
"""

import hashlib
import json
import logging
import os
import pathlib
import shutil
import tempfile
import urllib.parse
import warnings

import keras

from keras_panns.checkpoint import port_state_dict, read_state_dict
from keras_panns.errors import ChecksumError, CheckpointError, UnknownModelError
from keras_panns.hub import zoo
from keras_panns.hub.download import cache_dir as resolve_cache_dir
from keras_panns.hub.download import download, file_hashes, verify_file

logger = logging.getLogger("keras_panns")

PRESET_CONFIG = "config.json"
PRESET_WEIGHTS = "model.weights.h5"
PRESET_CARD = "card.json"
# Overrides that replace the classifier: its checkpoint weights are then not loaded.
_HEAD_OVERRIDES = ("num_classes", "include_top")
# Overrides that change no tensor shape or value: applied after conversion, so
# they reuse the cached conversion (and never need the checkpoint file again).
_RUNTIME_OVERRIDES = _HEAD_OVERRIDES + ("labels", "classifier_activation", "pooling", "spec_augment",
                                        "freq_drop_width", "block_dropout", "head_dropout", "seed",
                                        "input_length", "dtype", "name")


def save_preset(model, directory, card=None):
    """Writes `model` as a preset directory that `from_pretrained(directory)` reads.

    Example:
    ```python
    keras_panns.save_preset(model, "my_cnn14")
    same = keras_panns.from_pretrained("my_cnn14")
    ```
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    from keras_panns import __version__

    meta = {"architecture": type(model).__name__, "config": model.get_config(), "keras_panns_version": __version__}
    (directory / PRESET_CONFIG).write_text(json.dumps(meta, indent=2) + "\n")
    model.save_weights(str(directory / PRESET_WEIGHTS))
    card = card or getattr(model, "card", None)
    if card is not None:
        (directory / PRESET_CARD).write_text(json.dumps(card.to_dict(), indent=2) + "\n")
    return directory


def _read_preset(directory):
    from keras_panns.models.panns_model import get_architecture

    directory = pathlib.Path(directory)
    try:
        meta = json.loads((directory / PRESET_CONFIG).read_text())
        arch = get_architecture(meta["architecture"])
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{directory} is not a keras_panns preset ({exc})") from exc
    card = None
    if (directory / PRESET_CARD).is_file():
        card = zoo.ZooCard.from_dict(json.loads((directory / PRESET_CARD).read_text()))
    return arch, meta["config"], card


def _build(arch, config, overrides):
    config = dict(config)
    config.pop("name", None)
    config.update(overrides)
    return arch(**config)


def _head_changed(config, overrides):
    return any(k in overrides and overrides[k] != config.get(k) for k in _HEAD_OVERRIDES)


def _check_class(cls, arch_name, source):
    from keras_panns.models.panns_model import PANNsModel

    if cls is not PANNsModel and cls.__name__.lower() != arch_name.lower():
        raise UnknownModelError(
            f"{source!r} holds a {arch_name} checkpoint, not {cls.__name__}; use "
            f"keras_panns.{arch_name}.from_pretrained({source!r}) or keras_panns.from_pretrained({source!r}).")


def _transfer_weights(source_model, target_model, skip_prefixes):
    """Copies weights layer by layer (same names and shapes), except skipped head layers."""
    source_layers = {layer.name: layer for layer in source_model.layers}
    for layer in target_model.layers:
        if not layer.weights or any(layer.name.startswith(p) for p in skip_prefixes):
            continue
        other = source_layers.get(layer.name)
        values = other.get_weights() if other is not None else None
        if values is None or [v.shape for v in values] != [tuple(w.shape) for w in layer.weights]:
            raise CheckpointError(f"pretrained weights do not fit layer {layer.name} of the requested config")
        layer.set_weights(values)


def load_preset(cls, directory, overrides):
    arch, config, card = _read_preset(directory)
    _check_class(cls, arch.__name__, str(directory))
    reference = _build(arch, config, {})
    reference.load_weights(str(pathlib.Path(directory) / PRESET_WEIGHTS))
    if overrides:
        model = _build(arch, config, overrides)
        skip = arch.head_layers if _head_changed(config, overrides) else ()
        _transfer_weights(reference, model, skip)
    else:
        model = reference
    model.card = card
    return model


def _conversion_config(config, overrides):
    """The config whose tensors a checkpoint fills: runtime overrides don't count."""
    config = dict(config)
    config.update({k: v for k, v in overrides.items() if k not in _RUNTIME_OVERRIDES})
    return config


def _converted_dir(root, stem, identity, config):
    """Cache folder of a converted checkpoint: one per checkpoint identity and config."""
    key = hashlib.sha256((identity + json.dumps(config, sort_keys=True)).encode()).hexdigest()
    return root / "converted" / f"{stem}-{key[:16]}"


def _convert(arch, config, checkpoint_path, card, target):
    """Builds `arch(**config)`, ports the checkpoint and saves the preset atomically."""
    model = _build(arch, config, {})
    report = port_state_dict(model, read_state_dict(checkpoint_path))
    logger.info("converted %s: %s", checkpoint_path, report.summary())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_preset(model, staging, card)
        try:
            os.replace(staging, target)
        except OSError:  # another process converted it first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _resolve_architecture(cls, path, card):
    from keras_panns.models.panns_model import PANNsModel, get_architecture

    if card is not None:
        arch = get_architecture(card.architecture)
        _check_class(cls, arch.__name__, path.name)
        return arch, card.config
    if cls is PANNsModel:
        raise UnknownModelError(
            f"cannot tell which architecture {path.name} is (not an official file name); call "
            f"keras_panns.<Architecture>.from_pretrained({str(path)!r}, **config) instead.")
    return cls, {}


def _load_converted(cls, arch, target, card, overrides):
    from keras_panns.models.panns_model import PANNsModel

    runtime = {k: v for k, v in overrides.items() if k in _RUNTIME_OVERRIDES}
    model = load_preset(PANNsModel if cls is PANNsModel else arch, target, runtime)
    model.card = card
    return model


def _load_checkpoint_file(cls, path, card, root, overrides, identity=None):
    """Converts (once) and loads a `.pth`; `identity` keys the cache (default: the file's md5)."""
    path = pathlib.Path(path)
    arch, config = _resolve_architecture(cls, path, card)
    if identity is None:
        identity, _ = file_hashes(path)
        expected = card.checkpoint.get("md5") if card is not None else None
        if expected and expected != identity:
            warnings.warn(f"{path.name}: md5 {identity} differs from the published {expected} of zoo card "
                          f"{card.name!r}; loading it anyway with that card's config.", stacklevel=4)
    config = _conversion_config(config, overrides)
    target = _converted_dir(root, card.name if card is not None else path.stem, identity, config)
    if not (target / PRESET_WEIGHTS).is_file():
        _convert(arch, config, path, card, target)
    return _load_converted(cls, arch, target, card, overrides)


def _fetch_card_checkpoint(card, root, force_download, progress):
    checks = dict(md5=card.checkpoint.get("md5"), sha256=card.checkpoint.get("sha256"))
    for name in card.file_names:
        cached = root / "checkpoints" / name
        if cached.is_file() and not force_download:
            try:
                verify_file(cached, **checks)
            except ChecksumError as exc:
                raise ChecksumError(f"{exc}. Delete the cached file (or pass force_download=True) to fetch "
                                    "it again.") from exc
            return cached
    destination = root / "checkpoints" / card.file_name
    logger.info("downloading %s from %s", card.file_name, card.download_url())
    return download(card.download_url(), destination, size_bytes=card.checkpoint.get("size_bytes"),
                    progress=progress, **checks)


def _load_zoo_card(cls, card, root, force_download, progress, overrides):
    from keras_panns.models.panns_model import get_architecture

    _check_class(cls, card.architecture, card.name)
    arch = get_architecture(card.architecture)
    # Published hashes identify the file without reading it; cards without one use their name.
    identity = card.checkpoint.get("md5") or f"zoo:{card.name}"
    target = _converted_dir(root, card.name, identity, _conversion_config(card.config, overrides))
    if (target / PRESET_WEIGHTS).is_file() and not force_download:
        return _load_converted(cls, arch, target, card, overrides)
    path = _fetch_card_checkpoint(card, root, force_download, progress)
    return _load_checkpoint_file(cls, path, card, root, overrides, identity=identity)


def load_pretrained(cls, source, *, cache_dir=None, force_download=False, progress=True, overrides=None):
    """Implements `PANNsModel.from_pretrained` (see its docstring)."""
    from keras_panns.models.panns_model import PANNsModel

    overrides = dict(overrides or {})
    root = resolve_cache_dir(cache_dir)
    if source is None:
        card = zoo.default_card(cls.__name__) if cls is not PANNsModel else None
        if card is None:
            raise UnknownModelError(f"{cls.__name__} has no default pretrained checkpoint; pass a source.")
        source = card.name
    source = os.fspath(source)

    if os.path.isdir(source):
        return load_preset(cls, source, overrides)
    if os.path.isfile(source):
        if source.endswith(".keras"):
            return keras.saving.load_model(source)
        return _load_checkpoint_file(cls, source, zoo.card_for_file(source), root, overrides)
    if source.startswith(("http://", "https://")):
        file_name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(source).path)) or "checkpoint.pth"
        card = zoo.card_for_file(file_name)
        destination = root / "checkpoints" / file_name
        if force_download or not destination.is_file():
            checks = card.checkpoint if card is not None else {}
            download(source, destination, md5=checks.get("md5"), sha256=checks.get("sha256"),
                     size_bytes=checks.get("size_bytes"), progress=progress)
        return _load_checkpoint_file(cls, destination, card, root, overrides)

    card = zoo.card_for_file(source)
    if card is None:
        try:
            card = zoo.get_card(source)
        except UnknownModelError:
            if source.endswith((".pth", ".pt")) or os.sep in source:
                raise CheckpointError(f"checkpoint not found: {source}") from None
            raise
    return _load_zoo_card(cls, card, root, force_download, progress, overrides)
