"""PANNs inside perch-hoplite: an `EmbeddingModel` for any keras-panns model, and an index written into a DB.

perch-hoplite (SQLite + usearch) is the store that the bioacoustics tools
share (BirdNET-Analyzer, opensoundscape, Perch's agile modelling). With
`PannsEmbeddingModel`, hoplite's own `EmbedWorker` embeds audio with a PANNs
model; with `write_hoplite_db`, an index that `keras-panns index` already made
goes into a hoplite database without running the model again.

Embeddings are scaled to unit length, so hoplite's inner-product search ranks
as `keras-panns search` does (cosine). Windows lie on hoplite's grid: window
t starts at t x hop (the index's last window of a file ends with the audio
instead; on files whose length is on the grid the two are the same windows).
The logits are those of the 527 AudioSet classes (log-odds of the model's
sigmoid scores), under the class list `audioset` of namespace `audioset`.

perch-hoplite pins absl-py < 2, which mediapipe (the export extra) does not
accept; it runs with absl-py 2, so install it beside the `search` extra with
`pip install --no-deps perch-hoplite==1.0.2`.

Example:
```python
from perch_hoplite.agile import embed, source_info
from perch_hoplite.db import sqlite_usearch_impl
import keras_panns
from keras_panns.search.hoplite import PannsEmbeddingModel, model_config

model = PannsEmbeddingModel(keras_panns.Cnn14.from_pretrained(), window_size_s=10.0, hop_size_s=5.0)
db = sqlite_usearch_impl.SQLiteUSearchDB.create("birds.hoplite", usearch_cfg=usearch_config(2048))
sources = source_info.AudioSources((source_info.AudioSourceConfig("field", "recordings", "*.wav"),))
embed.EmbedWorker(sources, model_config(model), db, embedding_model=model).process_all()
```
"""

import os

import numpy as np

from keras_panns.errors import ArchiveError

MODEL_KEY = "keras_panns"
CLASS_LIST = "audioset"


def _require():
    from keras_panns.search.vectors import usearch_index

    try:
        usearch_index()  # hoplite's database imports usearch: after Ray (see usearch_index)
        from perch_hoplite.zoo import zoo_interface  # noqa: F401
    except ImportError as exc:
        raise ArchiveError(
            f"PANNs in perch-hoplite needs the perch-hoplite package ({exc.name} is missing): "
            "pip install 'keras-panns[search]' && pip install --no-deps perch-hoplite==1.0.2"
        ) from exc


def _embedding_model_base():
    _require()
    from perch_hoplite.zoo import zoo_interface

    return zoo_interface.EmbeddingModel


def _logits(scores):
    clipped = np.clip(np.asarray(scores, np.float64), 1e-7, 1 - 1e-7)
    return np.log(clipped / (1 - clipped)).astype(np.float32)


def _make_class():
    base = _embedding_model_base()
    from perch_hoplite.taxonomy import namespace
    from perch_hoplite.zoo import zoo_interface

    class PannsEmbeddingModel(base):
        """A keras-panns model as a perch-hoplite `EmbeddingModel` (see the module docstring).

        Args:
            model: a keras-panns tagging model with an `embedding` output (e.g. `Cnn14`).
            window_size_s: float. Window length in seconds (10.0 as the models were trained).
            hop_size_s: float. Step between windows.
            batch_size: int. Windows per forward pass.
            normalize: bool. Unit-length embeddings (hoplite's inner product is then cosine).

        Raises:
            ArchiveError: the model has no embedding output.

        Example:
        ```python
        outputs = PannsEmbeddingModel(cnn14, 10.0, 5.0).embed(waveform)
        outputs.embeddings.shape   # (windows, 1, 2048)
        ```
        """

        def __init__(self, model, window_size_s=10.0, hop_size_s=5.0, batch_size=8, normalize=True):
            from keras_panns.runtimes.keras_runner import KerasRunner

            if model is None or "embedding" not in getattr(model, "output", {}):
                raise ArchiveError("PannsEmbeddingModel needs a keras-panns model with an embedding output")
            self.model, self.window_size_s, self.hop_size_s = model, float(window_size_s), float(hop_size_s)
            self.batch_size, self.normalize = int(batch_size), bool(normalize)
            self.sample_rate = int(model.sample_rate)
            self._runner = KerasRunner(model)
            self._class_list = namespace.ClassList(CLASS_LIST, tuple(model.labels))

        @classmethod
        def from_config(cls, model_config):
            """From a hoplite config: `checkpoint` (zoo name, preset, .pth or .keras), window and hop."""
            from keras_panns.hub import loaders
            from keras_panns.models import PANNsModel

            model = loaders.load(PANNsModel, model_config.checkpoint)
            return cls(model, float(model_config.window_size_s), float(model_config.hop_size_s))

        def class_list(self):
            """The 527 AudioSet classes of the logits, as hoplite's `ClassList`."""
            return self._class_list

        def _starts(self, samples):
            window = int(round(self.window_size_s * self.sample_rate))
            hop = int(round(self.hop_size_s * self.sample_rate))
            if samples <= window:
                return [0], samples
            return list(range(0, samples - window + 1, hop)), window

        def embed(self, audio_array):
            """`InferenceOutputs` of a mono waveform: embeddings `[windows, 1, dims]`, logits `[windows, 527]`."""
            audio = np.asarray(audio_array, np.float32).reshape(-1)
            if len(audio) < int(self.model.min_samples):
                raise ArchiveError(
                    f"{len(audio) / self.sample_rate:.2f} s of audio is shorter than "
                    f"{self.model.name}'s minimum {self.model.min_samples / self.sample_rate:.2f} s"
                )
            starts, length = self._starts(len(audio))
            embeddings, scores = [], []
            for first in range(0, len(starts), self.batch_size):
                batch = np.stack([audio[s : s + length] for s in starts[first : first + self.batch_size]])
                outputs = self._runner(batch)
                embeddings.append(outputs["embedding"])
                scores.append(outputs["clipwise_output"])
            vectors = np.concatenate(embeddings).astype(np.float32)
            if self.normalize:
                from keras_panns.search.vectors import unit

                vectors = unit(vectors)
            return zoo_interface.InferenceOutputs(
                embeddings=vectors[:, None, :], logits={CLASS_LIST: _logits(np.concatenate(scores))}, batched=False
            )

        def batch_embed(self, audio_batch):
            """`embed` of each waveform of a batch, stacked (each must give the same number of windows)."""
            outputs = [self.embed(audio) for audio in audio_batch]
            return zoo_interface.InferenceOutputs(
                embeddings=np.stack([o.embeddings for o in outputs]),
                logits={CLASS_LIST: np.stack([o.logits[CLASS_LIST] for o in outputs])},
                batched=True,
            )

    return PannsEmbeddingModel


_CLASS = None


def __getattr__(name):
    # The class subclasses hoplite's, so it is made on first use: importing this module needs no hoplite.
    global _CLASS
    if name == "PannsEmbeddingModel":
        if _CLASS is None:
            _CLASS = _make_class()
        return _CLASS
    raise AttributeError(name)


def model_config(embedding_model, checkpoint=None):
    """hoplite's `ModelConfig` for a `PannsEmbeddingModel` (what its database records about the model).

    Args:
        embedding_model: `PannsEmbeddingModel`.
        checkpoint: str or None. The source recorded in the database; None: the Keras model's name.

    Returns:
        `perch_hoplite.agile.embed.ModelConfig`.

    Raises:
        RuntimeUnavailableError: perch-hoplite is not installed.

    Example:
    ```python
    config = model_config(PannsEmbeddingModel(keras_panns.Cnn14.from_pretrained()), "cnn14")
    ```
    """
    _require()
    from ml_collections import config_dict
    from perch_hoplite.agile import embed

    return embed.ModelConfig(
        model_key=MODEL_KEY,
        embedding_dim=int(embedding_model.model.output["embedding"].shape[-1]),
        model_config=config_dict.ConfigDict(
            {
                "checkpoint": checkpoint or embedding_model.model.name,
                "window_size_s": embedding_model.window_size_s,
                "hop_size_s": embedding_model.hop_size_s,
            }
        ),
    )


def usearch_config(embedding_dim):
    """hoplite's usearch settings for PANNs embeddings: its defaults (float16 vectors, the only kind hoplite
    1.0 stores; inner product, which is cosine on unit vectors).

    Args:
        embedding_dim: int, e.g. 2048 for Cnn14.

    Returns:
        hoplite's usearch `ConfigDict`.

    Raises:
        RuntimeUnavailableError: perch-hoplite is not installed.

    Example:
    ```python
    usearch_config(2048).embedding_dim  # 2048
    ```
    """
    _require()
    from perch_hoplite.db import sqlite_usearch_impl

    return sqlite_usearch_impl.get_default_usearch_config(int(embedding_dim))


def write_hoplite_db(index, db_path, dataset_name="keras_panns"):
    """Writes the windows and embeddings of a keras-panns index into a new perch-hoplite database.

    Each source file becomes a recording (its path relative to the files' common folder) of one
    deployment named `dataset_name`; each window a hoplite window with offsets `[start, end]` and its
    unit-length embedding. The model is not run again.

    Args:
        index: a `keras_panns.search.Index` with embeddings.
        db_path: str. A new (or empty) hoplite database directory.
        dataset_name: str. hoplite's dataset (and deployment) name.

    Returns:
        The `SQLiteUSearchDB`, committed.

    Raises:
        ArchiveError: the index has no embeddings, or the database already holds windows.

    Example:
    ```python
    db = write_hoplite_db(Index("recordings.index"), "recordings.hoplite")
    db.count_embeddings()
    ```
    """
    _require()
    from ml_collections import config_dict
    from perch_hoplite.db import sqlite_usearch_impl

    from keras_panns.search.vectors import unit

    embeddings = unit(index.embeddings())  # raises when the index has none (naming the flag)
    windows = index.windows
    db = sqlite_usearch_impl.SQLiteUSearchDB.create(os.fspath(db_path), usearch_cfg=usearch_config(index.dims))
    if db.count_embeddings():
        raise ArchiveError(f"{db_path} already holds {db.count_embeddings()} windows; write into a new database")
    paths = sorted(set(windows["path"]))
    base = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]) if paths else ""
    manifest = index.manifest
    db.insert_metadata(
        "model_config",
        config_dict.ConfigDict(
            {
                "model_key": MODEL_KEY,
                "embedding_dim": index.dims,
                "model_config": {
                    "checkpoint": manifest.get("model_source") or manifest.get("zoo_card") or manifest["model"],
                    "window_size_s": manifest["window_seconds"],
                    "hop_size_s": manifest["hop_seconds"],
                },
                "logits_key": None,
                "logits_idxes": None,
            }
        ),
    )
    db.insert_metadata(
        "keras_panns_index",
        config_dict.ConfigDict({"path": os.path.abspath(index.path), "weights_sha256": manifest["weights_sha256"]}),
    )
    deployment = db.insert_deployment(name=dataset_name, project=dataset_name)
    recordings = {
        path: db.insert_recording(filename=os.path.relpath(os.path.abspath(path), base), deployment_id=deployment)
        for path in paths
    }
    batch = [
        {"recording_id": recordings[path], "offsets": [float(start), float(end)]}
        for path, start, end in zip(windows["path"], windows["start"], windows["end"])
    ]
    for first in range(0, len(batch), 4096):
        db.insert_windows_batch(
            batch[first : first + 4096], embeddings[first : first + 4096], handle_duplicates="allow"
        )
    db.commit()
    return db
