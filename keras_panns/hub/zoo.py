"""The zoo: one card per published checkpoint (architecture, front-end config,
source URL and hashes, paper metrics, licence).

Cards are JSON files. Their source of truth is the repository's top-level
`zoo/` folder; wheels carry a copy as `keras_panns/_zoo`, so an installed
package resolves every preset without the repository.
"""

import ast
import dataclasses
import functools
import json
import os
import pathlib
import urllib.parse

from keras_panns.errors import UnknownModelError
from keras_panns.labels import audioset_labels

MIRROR_ENV = "KERAS_PANNS_MIRROR"


@dataclasses.dataclass(frozen=True)
class ZooCard:
    """A pretrained checkpoint's description: what to build, where to get it, how good it is.

    Binds everything a user needs in one object, like a torchaudio bundle:
    `card.sample_rate`, `card.labels`, `card.get_model()`.

    Attributes:
        name: str. Zoo name, e.g. `"cnn14_16k"`.
        architecture: str. Class name, e.g. `"Cnn14"`.
        config: dict. Constructor arguments of the architecture.
        checkpoint: dict. `file_name`, `aliases`, `url`, `md5`, `sha256`, `size_bytes`, ...
        metrics: dict. AudioSet `mAP`, `AUC`, `d_prime` and their `source`.
        params: int. Trainable parameters (the paper's count).
        multi_adds_g: float or None. Paper multi-adds per 10-s clip, in 1e9.
        license: dict. Licences of the weights and of the code.
        paper: dict. Where the checkpoint's figures were published.
        labels: str or list. `"audioset"` (the 527 classes) or the class names.
        description: str. What the checkpoint is.
        notes: str. Provenance details.
        origin: str. Who made the checkpoint.
        default: bool. Whether this is the architecture's default checkpoint.

    Example:
    ```python
    card = keras_panns.zoo.get_card("cnn14")
    card.sample_rate, card.metrics["mAP"]   # (32000, 0.431)
    model = card.get_model()
    ```
    """

    name: str
    architecture: str
    config: dict
    checkpoint: dict
    description: str = ""
    default: bool = False
    labels: str = "audioset"
    metrics: dict = dataclasses.field(default_factory=dict)
    params: int = None
    multi_adds_g: float = None
    license: dict = dataclasses.field(default_factory=dict)
    paper: dict = dataclasses.field(default_factory=dict)
    origin: str = ""
    notes: str = ""

    @classmethod
    def from_dict(cls, data):
        """The card of a JSON object (a `zoo/*.json` file).

        Args:
            data: dict with the card's fields.

        Returns:
            `ZooCard`.

        Raises:
            ValueError: a field the card does not have (a typo in a card file).

        Example:
        ```python
        card = ZooCard.from_dict(json.load(open("zoo/cnn14.json")))
        ```
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"zoo card {data.get('name')!r} has unknown fields {sorted(unknown)}")
        return cls(**data)

    def to_dict(self):
        """The card as a JSON-ready dict, the inverse of `from_dict`.

        Returns:
            dict.

        Example:
        ```python
        ZooCard.from_dict(card.to_dict()) == card  # True
        ```
        """
        return dataclasses.asdict(self)

    @property
    def sample_rate(self):
        return int(self.config.get("sample_rate", 32000))

    @property
    def file_name(self):
        return self.checkpoint["file_name"]

    @property
    def file_names(self):
        return [self.file_name] + list(self.checkpoint.get("aliases", []))

    @property
    def checksum(self):
        """`"sha256 <hex>"` (or `"md5 <hex>"` where no sha256 is known) of the checkpoint, or None."""
        for algorithm in ("sha256", "md5"):
            if self.checkpoint.get(algorithm):
                return f"{algorithm} {self.checkpoint[algorithm]}"
        return None

    @property
    def license_summary(self):
        """The licences in one line, e.g. `"weights CC-BY-4.0, code MIT"`."""
        return f"weights {self.license.get('weights', 'unknown')}, code {self.license.get('code', 'unknown')}"

    def for_local_weights(self, path, md5, sha256):
        """This card's configuration for weights that are not its published checkpoint (a local file).

        Keeps what to build (architecture, config, labels, paper); describes the weights as the file they
        are, with its own hashes, no URL, no published metrics and no licence claim, so that nothing made
        from them (a preset, TFLite metadata, the browser page) shows the official URL or md5.

        Args:
            path: str or path-like. The local checkpoint.
            md5: str. Its md5 (hex).
            sha256: str. Its sha256 (hex).

        Returns:
            A new `ZooCard`.

        Example:
        ```python
        local = get_card("cnn14").for_local_weights("Cnn14_mAP=0.431.pth", md5, sha256)
        local.checksum      # "sha256 <the file's own>"
        ```
        """
        path = pathlib.Path(path)
        return dataclasses.replace(
            self,
            name=f"{self.name} (local weights)",
            checkpoint={
                "file_name": path.name,
                "aliases": [],
                "url": None,
                "local_path": str(path.resolve()),
                "md5": md5,
                "sha256": sha256,
                "size_bytes": path.stat().st_size,
                "format": self.checkpoint.get("format"),
            },
            description=(
                f"Local weights {path.name} (sha256 {sha256}) with the configuration of zoo card {self.name!r}: "
                "not its published checkpoint (the md5 differs)."
            ),
            default=False,
            metrics={},
            license={"weights": "unknown (a local file)", "code": self.license.get("code", "unknown")},
            origin="a local file",
            notes="",
        )

    def download_url(self):
        """The checkpoint URL, or its place under `$KERAS_PANNS_MIRROR` when that is set.

        Returns:
            str.

        Example:
        ```python
        get_card("cnn14").download_url()  # 'https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1'
        ```
        """
        mirror = os.environ.get(MIRROR_ENV)
        if mirror:
            return mirror.rstrip("/") + "/" + urllib.parse.quote(self.file_name)
        return self.checkpoint["url"]

    def label_names(self):
        """The class names of the checkpoint's outputs.

        Returns:
            A list of str.

        Example:
        ```python
        get_card("cnn14").label_names()[:2]  # ['Speech', 'Male speech, man speaking']
        ```
        """
        return audioset_labels() if self.labels == "audioset" else list(self.labels)

    def get_model(self, **kwargs):
        """Builds the architecture and loads this checkpoint (see `from_pretrained`).

        Args:
            **kwargs: as `from_pretrained` (`cache_dir`, `progress`, constructor overrides).

        Returns:
            The model, with `model.card` set to this card.

        Raises:
            UnknownModelError: the architecture is not registered (import `keras_panns.models`).
            DownloadError: the checkpoint cannot be fetched.

        Example:
        ```python
        model = keras_panns.zoo.get_card("cnn14_16k").get_model()
        ```
        """
        # Imported here so that reading cards never starts a Keras backend.
        from keras_panns.hub.registry import get_architecture

        return get_architecture(self.architecture).from_pretrained(self.name, **kwargs)


def _card_dirs():
    here = pathlib.Path(__file__).resolve().parent.parent
    packaged = here / "_zoo"
    if packaged.is_dir():
        return [packaged]
    return [here.parent / "zoo"]


_EXTRA_CARDS = {}


@functools.lru_cache(maxsize=None)
def _builtin_cards():
    cards = {}
    for folder in _card_dirs():
        for path in sorted(folder.glob("*.json")):
            card = ZooCard.from_dict(json.loads(path.read_text("utf-8")))
            if card.name != path.stem:
                raise ValueError(f"{path}: card name {card.name!r} differs from its file name")
            cards[card.name] = card
    return cards


def all_cards():
    """Every known card, built-in and registered, by name.

    Returns:
        `{zoo name: ZooCard}`.

    Example:
    ```python
    len(keras_panns.zoo.all_cards())  # 22 built-in cards
    ```
    """
    cards = dict(_builtin_cards())
    cards.update(_EXTRA_CARDS)
    return cards


@functools.lru_cache(maxsize=1)
def built_architectures():
    """The architectures keras_panns builds: the classes its models register, read from their source.

    What `keras-panns models` shows as built, without importing Keras (a listing of the zoo starts no ML
    framework). The source is the truth: the classes decorated with `register_architecture` in
    `keras_panns/models`, the same that `keras_panns.models.ARCHITECTURES` holds once imported.

    Returns:
        frozenset of class names.

    Example:
    ```python
    "Cnn14" in built_architectures()  # True
    ```
    """
    root = pathlib.Path(__file__).resolve().parent.parent / "models"
    names = set()
    for path in root.rglob("*.py"):
        if path.name.endswith("_test.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(d, "id", getattr(d, "attr", None)) == "register_architecture" for d in node.decorator_list
            ):
                names.add(node.name)
    return frozenset(names)


def list_models(architecture=None):
    """Zoo names, optionally only those of one architecture.

    Args:
        architecture: str or None. A class name (case-insensitive); None: all.

    Returns:
        A sorted list of str.

    Example:
    ```python
    keras_panns.zoo.list_models("Cnn14")  # ['cnn14', 'cnn14_16k', ...]
    ```
    """
    return sorted(
        n for n, c in all_cards().items() if architecture is None or c.architecture.lower() == architecture.lower()
    )


def register_card(card):
    """Adds a card (a `ZooCard` or its dict) for a private checkpoint; returns the card.

    Args:
        card: `ZooCard` or dict.

    Returns:
        The registered `ZooCard`.

    Raises:
        ValueError: a dict with fields a card does not have.

    Example:
    ```python
    register_card({**get_card("cnn14").to_dict(), "name": "my_cnn14", "checkpoint": {"file_name": "mine.pth"}})
    model = keras_panns.from_pretrained("my_cnn14")
    ```
    """
    if isinstance(card, dict):
        card = ZooCard.from_dict(card)
    _EXTRA_CARDS[card.name] = card
    return card


def unregister_card(name):
    """Removes a card added with `register_card` (no error if there is none).

    Args:
        name: str. The zoo name.

    Example:
    ```python
    unregister_card("my_cnn14")
    ```
    """
    _EXTRA_CARDS.pop(name, None)


def get_card(name):
    """The card of a zoo name (case-insensitive), or `UnknownModelError` listing them all.

    Args:
        name: str, e.g. `"cnn14_16k"`.

    Returns:
        `ZooCard`.

    Raises:
        UnknownModelError: not a zoo name.

    Example:
    ```python
    keras_panns.zoo.get_card("CNN14_16k").sample_rate  # 16000
    ```
    """
    cards = all_cards()
    key = str(name).lower()
    for card_name, card in cards.items():
        if card_name.lower() == key:
            return card
    raise UnknownModelError(f"{name!r} is not in the keras_panns zoo. Known names: {', '.join(sorted(cards))}.")


def card_for_file(file_name):
    """The card whose official checkpoint file has this name (or alias), else None.

    Args:
        file_name: str. A file name, path or URL (only its last part counts).

    Returns:
        `ZooCard` or None.

    Example:
    ```python
    card_for_file("downloads/Cnn14_mAP=0.431.pth").name  # 'cnn14'
    ```
    """
    base = os.path.basename(urllib.parse.unquote(str(file_name)))
    for card in all_cards().values():
        if base in card.file_names:
            return card
    return None


def default_card(architecture):
    """The architecture's default card (e.g. `cnn14` for Cnn14), or None.

    Args:
        architecture: str. A class name (case-insensitive).

    Returns:
        `ZooCard` or None.

    Example:
    ```python
    default_card("Cnn14").name  # 'cnn14'
    ```
    """
    for card in all_cards().values():
        if card.architecture.lower() == architecture.lower() and card.default:
            return card
    return None
