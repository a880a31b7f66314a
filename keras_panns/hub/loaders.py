"""`from_pretrained` as a few small loaders, one per kind of source; `PANNsModel`'s preset API calls them.

| source                                   | loader                 |
|------------------------------------------|------------------------|
| a `.keras` file                          | `KerasFileLoader`      |
| a preset directory                       | `PresetLoader`         |
| a local official `.pth` (or any `.pth`)  | `CheckpointFileLoader` |
| an http(s) URL of a `.pth`               | `UrlLoader`            |
| a zoo name or official file name         | `ZooLoader`            |

The first loader whose `matches(source)` is true loads it. Every loader
honours the calling class (the source's architecture must be that class or a
subclass of it, as keras-hub's `from_preset` checks) and the overrides
(constructor arguments to change; a changed `num_classes`/`include_top`
means a new, untrained head).

Official checkpoints are converted once and the Keras weights cached as a
preset directory, so later loads skip the PyTorch pickle entirely. Overrides
that change no tensor (`_RUNTIME_OVERRIDES`) are applied after conversion and
reuse the cached conversion.
"""

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import urllib.parse
import warnings

import keras

from keras_panns.checkpoint import port_state_dict, read_state_dict, transfer_weights
from keras_panns.errors import CheckpointError, ChecksumError, UnknownModelError
from keras_panns.hub import zoo
from keras_panns.hub.download import cache_dir as resolve_cache_dir
from keras_panns.hub.download import download, file_hashes, verify_file
from keras_panns.hub.presets import WEIGHTS_FILE, read_preset, save_preset
from keras_panns.hub.registry import get_architecture, is_architecture

logger = logging.getLogger("keras_panns")

# Overrides that replace the classifier: its pretrained weights are then not loaded.
_HEAD_OVERRIDES = ("num_classes", "include_top")
# Overrides that change no tensor shape or value.
_RUNTIME_OVERRIDES = _HEAD_OVERRIDES + (
    "labels",
    "classifier_activation",
    "pooling",
    "spec_augment",
    "freq_drop_width",
    "block_dropout",
    "head_dropout",
    "seed",
    "input_length",
    "dtype",
    "name",
)
# Part of every conversion cache key: a new preset layout never reads an old conversion.
_CONVERSION_LAYOUT = "preset-v2"


@dataclasses.dataclass
class LoadRequest:
    """One `from_pretrained` call: who asks (`cls`), for what, with which changes."""

    cls: type
    source: str
    overrides: dict
    cache_dir: pathlib.Path
    force_download: bool = False
    progress: bool = True


# --- shared steps ------------------------------------------------------------------


def check_class(cls, arch, source):
    """Raises unless the source's architecture `arch` is `cls` or a subclass of it."""
    if not issubclass(arch, cls):
        raise UnknownModelError(
            f"{source!r} holds a {arch.__name__} checkpoint, not {cls.__name__}; use "
            f"keras_panns.{arch.__name__}.from_pretrained({source!r}) or keras_panns.from_pretrained({source!r})."
        )


def build(arch, config, overrides):
    """`arch(**config)` with `overrides` applied (the saved name is dropped unless overridden)."""
    config = dict(config)
    config.pop("name", None)
    config.update(overrides)
    return arch(**config)


def _head_changed(config, overrides):
    return any(k in overrides and overrides[k] != config.get(k) for k in _HEAD_OVERRIDES)


def with_overrides(model, overrides):
    """`model` rebuilt with `overrides`, its weights carried over (a changed head starts untrained)."""
    if not overrides:
        return model
    config = model.get_config()
    changed = build(type(model), config, overrides)
    transfer_weights(model, changed, type(model).head_layers if _head_changed(config, overrides) else ())
    changed.card = model.card
    return changed


# --- the loaders -------------------------------------------------------------------


class KerasFileLoader:
    """A `.keras` file saved by Keras (`model.save`), read with `safe_mode=True`."""

    def matches(self, source):
        return source.endswith(".keras") and os.path.isfile(source)

    def load(self, request):
        try:
            model = keras.saving.load_model(request.source, safe_mode=True)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"{request.source}: cannot load the .keras file ({exc})") from exc
        if not is_architecture(type(model)):
            raise CheckpointError(
                f"{request.source} holds a {type(model).__name__} ({model.name}), not a PANNs "
                "model; load it with keras.saving.load_model"
            )
        check_class(request.cls, type(model), request.source)
        model.card = None
        return with_overrides(model, request.overrides)


class PresetLoader:
    """A preset directory (`save_to_preset`, keras-hub's layout)."""

    def matches(self, source):
        return os.path.isdir(source)

    def load(self, request):
        return load_preset_dir(request.cls, request.source, request.overrides)


def load_preset_dir(cls, directory, overrides):
    arch, config, card = read_preset(directory)
    check_class(cls, arch, str(directory))
    model = build(arch, config, {})
    model.load_weights(str(pathlib.Path(directory) / WEIGHTS_FILE))
    model.card = card
    return with_overrides(model, overrides)


class CheckpointFileLoader:
    """A local PyTorch checkpoint; an official file name selects its zoo card's config."""

    def matches(self, source):
        return os.path.isfile(source)

    def load(self, request, card=None, identity=None):
        """Converts (once) and loads; `identity` keys the cache (default: the file's md5)."""
        path = pathlib.Path(request.source)
        card = card if card is not None else zoo.card_for_file(path.name)
        arch, config = _checkpoint_architecture(request.cls, path, card)
        local = None
        if identity is None:
            identity, sha256 = file_hashes(path)
            expected = card.checkpoint.get("md5") if card is not None else None
            if expected and expected != identity:
                warnings.warn(
                    f"{path.name}: md5 {identity} differs from the published {expected} of zoo card "
                    f"{card.name!r}; loading it with that card's config, described as a local file.",
                    stacklevel=5,
                )
                # Provenance is never claimed without proof: these are not the card's published weights.
                local = card.for_local_weights(path, identity, sha256)
        config = _conversion_config(config, request.overrides)
        target = _converted_dir(request.cache_dir, card.name if card is not None else path.stem, identity, config)
        card = local or card
        if not (target / WEIGHTS_FILE).is_file():
            _convert(arch, config, path, card, target)
        return _load_converted(request, arch, target, card)


class UrlLoader:
    """An http(s) URL of a `.pth`: downloaded once into the cache, hash-checked when its name is official."""

    def matches(self, source):
        return source.startswith(("http://", "https://"))

    def load(self, request):
        url = request.source
        file_name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path)) or "checkpoint.pth"
        card = zoo.card_for_file(file_name)
        destination = request.cache_dir / "checkpoints" / file_name
        if request.force_download or not destination.is_file():
            checks = card.checkpoint if card is not None else {}
            download(
                url,
                destination,
                md5=checks.get("md5"),
                sha256=checks.get("sha256"),
                size_bytes=checks.get("size_bytes"),
                progress=request.progress,
            )
        return CheckpointFileLoader().load(dataclasses.replace(request, source=str(destination)), card=card)


class ZooLoader:
    """A zoo name (`cnn14_16k`) or an official file name (`Cnn14_16k_mAP=0.438.pth`) not on disk."""

    def matches(self, source):
        return True

    def load(self, request):
        card = card_for_source(request.source)
        arch = get_architecture(card.architecture)
        check_class(request.cls, arch, card.name)
        # Published hashes identify the file without reading it; cards without one use their name.
        identity = card.checkpoint.get("md5") or f"zoo:{card.name}"
        target = _converted_dir(
            request.cache_dir, card.name, identity, _conversion_config(card.config, request.overrides)
        )
        if (target / WEIGHTS_FILE).is_file() and not request.force_download:
            return _load_converted(request, arch, target, card)
        path = _fetch_card_checkpoint(card, request)
        return CheckpointFileLoader().load(dataclasses.replace(request, source=str(path)), card=card, identity=identity)


LOADERS = (KerasFileLoader(), PresetLoader(), CheckpointFileLoader(), UrlLoader(), ZooLoader())


def card_for_source(source):
    """The zoo card of a zoo name or official file name; `CheckpointError` for a missing file path."""
    card = zoo.card_for_file(source)
    if card is not None:
        return card
    try:
        return zoo.get_card(source)
    except UnknownModelError:
        if source.endswith((".pth", ".pt", ".keras")) or os.sep in source:
            raise CheckpointError(f"checkpoint not found: {source}") from None
        raise


# --- conversion of official checkpoints ------------------------------------------------


def _checkpoint_architecture(cls, path, card):
    if card is not None:
        arch = get_architecture(card.architecture)
        check_class(cls, arch, path.name)
        return arch, card.config
    if not is_architecture(cls):  # the base class, PANNsModel: the file name must tell
        raise UnknownModelError(
            f"cannot tell which architecture {path.name} is (not an official file name); call "
            f"keras_panns.<Architecture>.from_pretrained({str(path)!r}, **config) instead."
        )
    return cls, {}


def _conversion_config(config, overrides):
    """The config whose tensors a checkpoint fills: runtime overrides don't count."""
    config = dict(config)
    config.update({k: v for k, v in overrides.items() if k not in _RUNTIME_OVERRIDES})
    return config


def _converted_dir(root, stem, identity, config):
    """Cache folder of a converted checkpoint: one per checkpoint identity and config."""
    key = hashlib.sha256((_CONVERSION_LAYOUT + identity + json.dumps(config, sort_keys=True)).encode()).hexdigest()
    return root / "converted" / f"{stem}-{key[:16]}"


def _convert(arch, config, checkpoint_path, card, target):
    """Builds `arch(**config)`, ports the checkpoint and saves the preset atomically."""
    model = build(arch, config, {})
    report = port_state_dict(model, read_state_dict(checkpoint_path))
    logger.info("converted %s: %s", checkpoint_path, report.summary())
    save_preset(model, target, card, overwrite=False)


def _load_converted(request, arch, target, card):
    runtime = {k: v for k, v in request.overrides.items() if k in _RUNTIME_OVERRIDES}
    model = load_preset_dir(arch, target, runtime)
    model.card = card  # today's card, not the copy saved at conversion time (its metrics or notes may be newer)
    return model


def _fetch_card_checkpoint(card, request):
    checks = dict(md5=card.checkpoint.get("md5"), sha256=card.checkpoint.get("sha256"))
    for name in card.file_names:
        cached = request.cache_dir / "checkpoints" / name
        if cached.is_file() and not request.force_download:
            try:
                verify_file(cached, **checks)
            except ChecksumError as exc:
                raise ChecksumError(
                    f"{exc}. Delete the cached file (or pass force_download=True) to fetch it again."
                ) from exc
            return cached
    destination = request.cache_dir / "checkpoints" / card.file_name
    logger.info("downloading %s from %s", card.file_name, card.download_url())
    return download(
        card.download_url(),
        destination,
        size_bytes=card.checkpoint.get("size_bytes"),
        progress=request.progress,
        **checks,
    )


# --- the preset API behind PANNsModel -----------------------------------------------------


def load(cls, source=None, *, cache_dir=None, force_download=False, progress=True, overrides=None):
    """Implements `PANNsModel.from_pretrained` (see its docstring)."""
    if source is None:
        source = default_source(cls)
    request = LoadRequest(
        cls=cls,
        source=os.fspath(source),
        overrides=dict(overrides or {}),
        cache_dir=resolve_cache_dir(cache_dir),
        force_download=force_download,
        progress=progress,
    )
    for loader in LOADERS:
        if loader.matches(request.source):
            return loader.load(request)
    raise AssertionError("ZooLoader matches every source")


def default_source(cls):
    card = zoo.default_card(cls.__name__)
    if card is None:
        raise UnknownModelError(f"{cls.__name__} has no default pretrained checkpoint; pass a source.")
    return card.name


def build_untrained(cls, source=None, overrides=None):
    """Implements `from_preset(..., load_weights=False)`: the source's architecture and config, random weights."""
    source = os.fspath(source if source is not None else default_source(cls))
    if os.path.isdir(source):
        arch, config, _ = read_preset(source)
    else:
        card = card_for_source(os.path.basename(source) if os.path.isfile(source) else source)
        arch, config = get_architecture(card.architecture), card.config
    check_class(cls, arch, source)
    return build(arch, config, dict(overrides or {}))


def presets(cls):
    """`{zoo name: ZooCard}` of the cards whose architecture is `cls` or a subclass."""
    found = {}
    for name, card in sorted(zoo.all_cards().items()):
        try:
            arch = get_architecture(card.architecture)
        except UnknownModelError:
            continue
        if issubclass(arch, cls):
            found[name] = card
    return found


def architecture_and_config(name):
    """`(class, constructor kwargs)` of a zoo name (its card's config) or an architecture name (`{}`).

    Example:
    ```python
    architecture_and_config("cnn14_16k")  # (Cnn14, {"sample_rate": 16000, ...})
    architecture_and_config("Cnn6")       # (Cnn6, {})
    ```
    """
    try:
        card = zoo.get_card(name)
    except UnknownModelError:
        return get_architecture(name), {}
    return get_architecture(card.architecture), dict(card.config)
