"""keras-panns: the PANNs audio tagging models (Kong et al., 2020) for Keras 3.

Attributes are imported lazily, so `import keras_panns` (and the command
line's `--help`) does not start a Keras backend until a model is needed.
Names from the hub (`zoo`, `save_preset`) come with the models imported, so
their classes are in Keras' registry when a card builds one.

Example:
```python
import keras_panns
model = keras_panns.Cnn14.from_pretrained()
print(keras_panns.tag(model, "speech.wav", top_k=5))
```
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from keras_panns.version import __version__

if TYPE_CHECKING:
    from keras_panns.models import PANNsModel

_EXPORTS = {
    "layers": ("keras_panns.layers", None),
    "zoo": ("keras_panns.hub.zoo", None),
    "checkpoint": ("keras_panns.checkpoint", None),
    "export": ("keras_panns.export", None),
    "demo": ("keras_panns.demo", None),
    "load_audio": ("keras_panns.audio", "load_audio"),
    "AudioError": ("keras_panns.errors", "AudioError"),
    "MissingAudioError": ("keras_panns.errors", "MissingAudioError"),
    "CheckpointError": ("keras_panns.errors", "CheckpointError"),
    "ChecksumError": ("keras_panns.errors", "ChecksumError"),
    "DownloadError": ("keras_panns.errors", "DownloadError"),
    "PANNsError": ("keras_panns.errors", "PANNsError"),
    "UnknownModelError": ("keras_panns.errors", "UnknownModelError"),
    "UnsafeCheckpointError": ("keras_panns.errors", "UnsafeCheckpointError"),
    "save_preset": ("keras_panns.hub.presets", "save_preset"),
    "DataError": ("keras_panns.errors", "DataError"),
    "ExportError": ("keras_panns.errors", "ExportError"),
    "TrainingError": ("keras_panns.errors", "TrainingError"),
    "TagResult": ("keras_panns.inference", "TagResult"),
    "iter_tags": ("keras_panns.inference", "iter_tags"),
    "predict_waveforms": ("keras_panns.inference", "predict_waveforms"),
    "tag": ("keras_panns.inference", "tag"),
    "SoundEvent": ("keras_panns.events", "SoundEvent"),
    "detect_events": ("keras_panns.events", "detect_events"),
    "events_to_csv": ("keras_panns.events", "events_to_csv"),
    "events_to_json": ("keras_panns.events", "events_to_json"),
    "LongTagging": ("keras_panns.long_audio", "LongTagging"),
    "tag_long": ("keras_panns.long_audio", "tag_long"),
    "sed_long": ("keras_panns.long_audio", "sed_long"),
    "iter_framewise": ("keras_panns.long_audio", "iter_framewise"),
    "embed_long": ("keras_panns.long_audio", "embed_long"),
    "archive": ("keras_panns.archive", None),
    "index_archive": ("keras_panns.archive", "index_archive"),
    "ArchiveError": ("keras_panns.errors", "ArchiveError"),
    "Index": ("keras_panns.search", "Index"),
    "search": ("keras_panns.search", None),
    "detect_events_long": ("keras_panns.long_audio", "detect_events_long"),
    "EventDetector": ("keras_panns.events", "EventDetector"),
    "Stream": ("keras_panns.streaming", "Stream"),
    "StreamResult": ("keras_panns.streaming", "StreamResult"),
    "hear": ("keras_panns.hear", None),
    "labels": ("keras_panns.labels", None),
    "UnknownLabelError": ("keras_panns.errors", "UnknownLabelError"),
    "export_model": ("keras_panns.export", "export_model"),
    "plot_sed": ("keras_panns.plotting", "plot_sed"),
    "audioset_labels": ("keras_panns.labels", "audioset_labels"),
    "ARCHITECTURES": ("keras_panns.models", "ARCHITECTURES"),
    "PANNsModel": ("keras_panns.models", "PANNsModel"),
    "get_architecture": ("keras_panns.models", "get_architecture"),
    "Cnn6": ("keras_panns.models", "Cnn6"),
    "Cnn10": ("keras_panns.models", "Cnn10"),
    "Cnn14": ("keras_panns.models", "Cnn14"),
    "Cnn14_DecisionLevelMax": ("keras_panns.models", "Cnn14_DecisionLevelMax"),
    "Cnn14_DecisionLevelAvg": ("keras_panns.models", "Cnn14_DecisionLevelAvg"),
    "Cnn14_DecisionLevelAtt": ("keras_panns.models", "Cnn14_DecisionLevelAtt"),
    "LeeNet11": ("keras_panns.models", "LeeNet11"),
    "LeeNet24": ("keras_panns.models", "LeeNet24"),
    "DaiNet19": ("keras_panns.models", "DaiNet19"),
    "Res1dNet31": ("keras_panns.models", "Res1dNet31"),
    "Res1dNet51": ("keras_panns.models", "Res1dNet51"),
    "Wavegram_Cnn14": ("keras_panns.models", "Wavegram_Cnn14"),
    "Wavegram_Logmel_Cnn14": ("keras_panns.models", "Wavegram_Logmel_Cnn14"),
    "Wavegram_Logmel128_Cnn14": ("keras_panns.models", "Wavegram_Logmel128_Cnn14"),
    "ResNet22": ("keras_panns.models", "ResNet22"),
    "ResNet38": ("keras_panns.models", "ResNet38"),
    "ResNet54": ("keras_panns.models", "ResNet54"),
    "MobileNetV1": ("keras_panns.models", "MobileNetV1"),
    "MobileNetV2": ("keras_panns.models", "MobileNetV2"),
}

__all__ = sorted(_EXPORTS) + ["__version__", "from_pretrained"]

#: Old names that still work, with a warning: name -> the name to use. Not public (not in `__all__`).
_RENAMED = {
    "index": "index_archive",  # was one letter's case away from `Index`, the index reader
}


def __getattr__(name):
    if name in _RENAMED:
        import warnings

        warnings.warn(
            f"keras_panns.{name} is now keras_panns.{_RENAMED[name]}; the old name will go", FutureWarning, stacklevel=2
        )
        return __getattr__(_RENAMED[name])
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_panns' has no attribute {name!r}")
    module_name, attribute = _EXPORTS[name]
    if module_name.startswith("keras_panns.hub."):
        importlib.import_module("keras_panns.models")  # the hub finds architectures in Keras' registry
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__():
    return __all__


def from_pretrained(source: str | os.PathLike, **kwargs: Any) -> PANNsModel:
    """Loads any PANNs model with pretrained weights; see `PANNsModel.from_pretrained`.

    Example:
    ```python
    model = keras_panns.from_pretrained("cnn14_16k")
    ```
    """
    return __getattr__("PANNsModel").from_pretrained(source, **kwargs)
