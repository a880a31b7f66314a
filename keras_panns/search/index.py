"""Reading and searching an index made by `keras-panns index`: its tables, similar sounds, labels and groups.

Example:
```python
import keras_panns
archive = keras_panns.Index("recordings.index")
archive.files.head()                                   # pandas: path, duration, status, ...
archive.search(like="dog.wav", top=5)                  # the 5 windows most like dog.wav
archive.search(group="Vehicle", min_score=0.5, level="files")
archive.search(like="dog.wav", label="Dog", min_score=0.3)   # like it, and scored as Dog
```
"""

import os

import numpy as np

from keras_panns.archive import head_tables, schema
from keras_panns.archive.reader import IndexReader, part_names
from keras_panns.errors import ArchiveError, AudioError
from keras_panns.search.vectors import EXACT_BELOW, WindowVectors, exact_search, unit

LEVELS = ("windows", "files", "events")


def _classes(labels, label, group):
    """`(class indices, what)`: the output classes a --label or --group asks for (ontology names or mids)."""
    from keras_panns.labels import audioset_labels, descendants, find_class, group_indices, ontology

    if label is not None and group is not None:
        raise ArchiveError("give --label or --group, not both")
    if label is not None:
        name = ontology()[find_class(label)]["name"]  # UnknownLabelError suggests close names
        if name not in labels:
            raise ArchiveError(f"{label!r} is an AudioSet group, not one of the model's classes: use --group")
        return [labels.index(name)], name
    name = ontology()[find_class(group)]["name"]
    if list(labels) == audioset_labels():
        return group_indices(group), name
    # A model with classes of its own (fine-tuned): the group's members among them, by name.
    members = {ontology()[mid]["name"] for mid in descendants(group, mids=True)}
    indices = [i for i, label in enumerate(labels) if label in members]
    if not indices:
        raise ArchiveError(f"no class of the group {name!r} is among this index's {len(labels)} classes")
    return indices, name


class Index:
    """An index directory as tables (pandas or Arrow), searchable by similarity, label and group.

    Only committed parts are read (those whose `files` part is in place), so an index that a running or
    killed `keras-panns index` is still writing reads as the files finished so far.

    Args:
        path: str or path-like. The index directory (`keras-panns index --out`).

    Raises:
        ArchiveError: not a keras-panns index, an unreadable manifest, or a corrupt table part (named).

    Example:
    ```python
    archive = Index("recordings.index")
    print(len(archive.files), "files,", len(archive.windows), "windows")
    archive.search(label="Dog", min_score=0.5, level="files").head()
    ```
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        if not os.path.isdir(self.path):
            raise ArchiveError(f"{self.path}: no such index directory")
        self._reader = IndexReader(self.path)
        if self._reader.manifest is None:
            raise ArchiveError(
                f"{self.path}: not a keras-panns index (no manifest.json); make one with "
                "keras-panns index SOURCE --out INDEX"
            )
        self.manifest = self._reader.manifest
        self._tables, self._model, self._vectors, self._unit = {}, None, None, None
        self._committed = set(part_names(self.path, "files"))
        self._window_parts = WindowVectors(self._vector_folder, self.dims).order(
            [p for p in part_names(self.path, "windows") if p in self._committed]
        )

    # -- tables ------------------------------------------------------------------------------------------

    @property
    def _vector_folder(self):
        return os.path.join(self.path, "vectors")

    @property
    def dims(self):
        """Embedding size (0 when the index holds no embeddings)."""
        return int(self.manifest.get("embedding_size") or 0) if "embeddings" in self.outputs else 0

    @property
    def outputs(self):
        """What the index stores per window (`tags`, `scores`, `embeddings`, `events`)."""
        return tuple(self.manifest.get("outputs", ()))

    def _parts(self, table):
        if table == "windows":
            return self._window_parts
        return [p for p in part_names(self.path, table) if p in self._committed]

    def _read_part(self, table, part, columns=None):
        return self._reader.read_part(table, part, columns)

    def arrow(self, table, columns=None):
        """One table as a `pyarrow.Table` (windows in search-key order).

        Args:
            table: str. `files`, `windows`, `events` or `errors`.
            columns: list of str or None (all).

        Returns:
            `pyarrow.Table`.

        Raises:
            ArchiveError: no such table.

        Example:
        ```python
        keras_panns.Index("esc10.index").arrow("files", ["path", "duration"]).to_pandas()
        ```
        """
        import pyarrow as pa

        if table not in schema.table_names():
            raise ArchiveError(f"no table {table!r}; the tables are {', '.join(schema.table_names())}")
        parts = [self._read_part(table, part, columns) for part in self._parts(table)]
        if parts:
            return pa.concat_tables(parts)
        empty = self._reader.schema(table)
        return empty.empty_table() if columns is None else pa.schema([empty.field(c) for c in columns]).empty_table()

    def _table(self, table):
        if table not in self._tables:
            columns = None
            if table == "windows":  # the wide columns are read on demand (scores(), embeddings())
                columns = schema.table("windows").names(self.outputs, wide=False)
            self._tables[table] = self.arrow(table, columns).to_pandas()
        return self._tables[table]

    @property
    def files(self):
        """pandas DataFrame: one row per source file (path, size, mtime, duration, ..., status)."""
        return self._table("files")

    @property
    def windows(self):
        """pandas DataFrame: one row per window (path, window, start, end[, top_labels, top_scores])."""
        return self._table("windows")

    @property
    def events(self):
        """pandas DataFrame: one row per sound event (path, label, class_index, onset, offset, score)."""
        return self._table("events")

    @property
    def errors(self):
        """pandas DataFrame: one row per file that failed (path, reason, error)."""
        return self._table("errors")

    def require(self, output):
        """Refuses an index without `output`, naming the `--outputs` that makes it.

        Args:
            output: str. One of `schema.OUTPUTS` (`embeddings`, `scores`, `tags`, `events`).

        Raises:
            ArchiveError: the index was made without it.

        Example:
        ```python
        keras_panns.Index("esc10.index").require("embeddings")
        ```
        """
        if output not in self.outputs:
            raise ArchiveError(
                f"{self.path} holds no {output} (its outputs: {', '.join(self.outputs)}); index "
                f"again with --outputs {','.join(sorted(set(self.outputs) | {output}))}"
            )

    def _matrix(self, column, size, rows=None):
        self.require({"embedding": "embeddings", "scores": "scores"}[column])
        import pyarrow as pa

        values = self.arrow("windows", [column]).column(column).combine_chunks()
        if rows is not None:  # only those rows leave Arrow (a map of 4,000 windows out of millions)
            values = values.take(pa.array(np.asarray(rows, np.int64)))
        return matrix_of(values, size)

    def embeddings(self, rows=None):
        """float32 `(windows, embedding_size)`: the windows' embeddings (or those of `rows`).

        Args:
            rows: sequence of int or None. Window rows (search keys); None: all.

        Returns:
            float32 array.

        Raises:
            ArchiveError: the index holds no embeddings (it was made without `--outputs embeddings`).

        Example:
        ```python
        vectors = keras_panns.Index("esc10.index").embeddings([0, 1, 2])  # (3, 2048)
        ```
        """
        return self._matrix("embedding", self.manifest["embedding_size"], rows)

    def embedding_parts(self):
        """The windows' embeddings one Parquet part at a time, so memory holds one part whatever the index.

        Yields:
            `(first row, float32 array (rows, embedding_size))` per part, rows in search-key order.

        Raises:
            ArchiveError: the index holds no embeddings (it was made without `--outputs embeddings`).

        Example:
        ```python
        for first, block in keras_panns.Index("esc10.index").embedding_parts():
            print(first, block.shape)
        ```
        """
        self.require("embeddings")
        first = 0
        for part in self._parts("windows"):
            values = self._read_part("windows", part, ["embedding"]).column("embedding").combine_chunks()
            block = matrix_of(values, self.manifest["embedding_size"])
            yield first, block
            first += len(block)

    @property
    def window_part_names(self):
        """The committed `windows` parts' names, in search-key order (a row's key counts through them).

        Example:
        ```python
        keras_panns.Index("esc10.index").window_part_names  # ['part-0a1b....parquet', ...]
        ```
        """
        return list(self._parts("windows"))

    def window_parts(self, columns=None, only=None):
        """The `windows` table one committed part at a time, so memory holds one part whatever the index.

        Args:
            columns: list of str or None (all).
            only: collection of part names or None (every part).

        Yields:
            `(part name, pyarrow.Table)`, in search-key order.

        Example:
        ```python
        for part, table in keras_panns.Index("esc10.index").window_parts(["path", "embedding"]):
            print(part, table.num_rows)
        ```
        """
        for part in self._parts("windows"):
            if only is None or part in only:
                yield part, self._read_part("windows", part, columns)

    def scores(self, rows=None):
        """float32 `(windows, classes)`: the windows' scores (or those of `rows`).

        Args:
            rows: sequence of int or None. Window rows (search keys); None: all.

        Returns:
            float32 array.

        Raises:
            ArchiveError: the index holds no scores (it was made without `--outputs scores`).

        Example:
        ```python
        dog = keras_panns.Index("esc10.index").scores()[:, keras_panns.labels.group_indices("Dog")].max(axis=1)
        ```
        """
        return self._matrix("scores", self.manifest["num_classes"], rows)

    # -- heads applied to the index (`keras-panns classify apply`) ----------------------------------------

    @property
    def heads(self):
        """`{name: record}` of every head applied to this index: its classes, points, sha256 and card.

        Example:
        ```python
        keras_panns.Index("field.index").heads["cuckoo"]["classes"]  # ['cuckoo']
        ```
        """
        return head_tables.records(self.path)

    def head_record(self, name):
        """The record of head `name` in this index: its classes, points, sha256, card, and whether with events.

        Args:
            name: str. The head's name in the index (`heads`).

        Returns:
            dict.

        Raises:
            ArchiveError: no head of that name was applied (the message lists those that were).

        Example:
        ```python
        keras_panns.Index("field.index").head_record("cuckoo")["thresholds"]  # {'cuckoo': 0.41}
        ```
        """
        record = head_tables.read_record(self.path, name)
        if record is None:
            applied = ", ".join(self.heads) or "none"
            raise ArchiveError(
                f"no head {name!r} was applied to {self.path} (applied: {applied}); run keras-panns classify "
                f"apply {self.path} --head HEAD"
            )
        return record

    def head_scores(self, name, rows=None):
        """float32 `(windows, head classes)`: head `name`'s scores of the windows (or of `rows`), in search-key order.

        Args:
            name: str. The head's name in the index (`heads`).
            rows: sequence of int or None. Window rows (search keys); None: all.

        Returns:
            float32 array, columns in the order of `heads[name]["classes"]`.

        Raises:
            ArchiveError: no such head, or windows it has not scored yet (the index grew since: apply again).

        Example:
        ```python
        cuckoo = keras_panns.Index("field.index").head_scores("cuckoo")[:, 0]
        ```
        """
        record = self.head_record(name)
        scored = set(head_tables.scored_parts(self.path, name))
        missing = [part for part in self._window_parts if part not in scored]
        if missing:
            raise ArchiveError(
                f"{len(missing)} of {len(self._window_parts)} windows parts of {self.path} have no scores of head "
                f"{name!r} (the index grew since it was applied); run keras-panns classify apply {self.path} "
                f"--head {record['head']} --name {name}"
            )
        size = len(record["classes"])
        blocks = [
            matrix_of(
                head_tables.read_part(self.path, name, part, columns=["scores"]).column("scores").combine_chunks(), size
            )
            for part in self._window_parts
        ]
        matrix = np.concatenate(blocks) if blocks else np.zeros((0, size), np.float32)
        return matrix if rows is None else matrix[np.asarray(rows, np.int64)]

    def head_events(self, name):
        """Head `name`'s events: each class's runs of windows at or over its point (`classify apply --events`).

        Args:
            name: str. The head's name in the index (`heads`).

        Returns:
            pandas DataFrame (path, label, class_index, onset, offset, score).

        Raises:
            ArchiveError: no such head, or it was applied without events.

        Example:
        ```python
        keras_panns.Index("field.index").head_events("cuckoo").head()
        ```
        """
        import pandas as pd
        import pyarrow as pa

        record = self.head_record(name)
        if not record.get("events"):
            raise ArchiveError(
                f"head {name!r} was applied to {self.path} without events; apply it again with --events --replace"
            )
        scored = set(head_tables.scored_parts(self.path, name)) & set(self._window_parts)
        parts = [
            head_tables.read_part(self.path, name, part, head_tables.EVENTS)
            for part in head_tables.scored_parts(self.path, name, head_tables.EVENTS)
            if part in scored
        ]
        if not parts:
            columns = schema.table(head_tables.EVENTS).names()
            return pd.DataFrame({c: [] for c in columns})
        return pa.concat_tables(parts).to_pandas()

    def head_class(self, label):
        """Which applied head has a class called `label`, and its column in that head's scores.

        Args:
            label: str.

        Returns:
            `(head name, column)`, or None when no applied head has the class.

        Example:
        ```python
        keras_panns.Index("field.index").head_class("cuckoo")  # ('cuckoo', 0)
        ```
        """
        for name, record in self.heads.items():
            if label in record["classes"]:
                return name, record["classes"].index(label)
        return None

    @property
    def labels(self):
        """The model's class names (AudioSet's 527 for the official checkpoints)."""
        from keras_panns.labels import audioset_labels

        if self.manifest.get("labels"):
            return list(self.manifest["labels"])
        if self.manifest.get("num_classes") == 527:  # an index from before the manifest kept the labels
            return audioset_labels()
        raise ArchiveError(
            f"{self.path}: the manifest does not list the model's {self.manifest.get('num_classes')} "
            "classes; index again with this version"
        )

    # -- the model, for queries ----------------------------------------------------------------------------

    def model(self, checkpoint=None, cache_dir=None):
        """The index's own model (from the manifest's `model_source`, or `checkpoint`), its weights checked.

        Raises:
            ArchiveError: the model's weights are not those the index was made with, or it cannot be found.
        """
        if self._model is not None and checkpoint is None:
            return self._model
        from keras_panns.hub import loaders
        from keras_panns.models import PANNsModel
        from keras_panns.runtimes.fingerprint import weights_sha256

        source = checkpoint or self.manifest.get("model_source") or self.manifest.get("zoo_card")
        if not source:
            raise ArchiveError(f"{self.path} does not say where its model came from: give --checkpoint")
        model = loaders.load(PANNsModel, source, cache_dir=cache_dir)
        digest = weights_sha256(model)
        if digest != self.manifest["weights_sha256"] or type(model).__name__ != self.manifest["model"]:
            raise ArchiveError(
                f"{source} is {type(model).__name__} with weights sha256 {digest[:12]}..., but "
                f"{self.path} was indexed with {self.manifest['model']} "
                f"(weights sha256 {self.manifest['weights_sha256'][:12]}...): its embeddings "
                "would not compare; give the index's own --checkpoint"
            )
        self._model = model
        return model

    def query_audio(self, path, start=None, end=None, checkpoint=None, cache_dir=None):
        """The mono waveform of a query (a file, or its `start`..`end` seconds) at the index's sample rate.

        Args:
            path: str. An audio file.
            start: float or None. Seconds; None: its beginning.
            end: float or None. Seconds; None: its end.
            checkpoint: str or None. The model's source when the manifest does not say.
            cache_dir: str or None. The keras_panns cache.

        Returns:
            float32 array `(samples,)`.

        Example:
        ```python
        wave = index.query_audio("bark.wav", start=1.0, end=3.5)
        ```

        Raises:
            AudioError: the file cannot be read, or the part asked for is shorter than the model accepts.
        """
        from keras_panns.audio import AudioFile

        model = self.model(checkpoint, cache_dir)
        rate = int(self.manifest["sample_rate"])
        audio = AudioFile(path)
        total = audio.num_samples(rate)
        first = int(round((start or 0.0) * rate))
        last = total if end is None else min(total, int(round(end * rate)))
        if first < 0 or last <= first:
            raise AudioError(f"{path}: --start {start} --end {end} selects no audio")
        # Only that part is read and resampled, as the index reads each of its windows (read_window).
        wave = audio.read_window(first, last - first, rate)
        if len(wave) < int(model.min_samples):
            raise AudioError(
                f"{path}: the query is {len(wave) / rate:.2f} s, shorter than {model.name}'s minimum "
                f"{model.min_samples / rate:.2f} s"
            )
        return wave

    def embed(self, path, start=None, end=None, checkpoint=None, cache_dir=None):
        """The unit-length query embedding of a file (or of its `start`..`end` seconds).

        The audio is cut into the index's windows (its window and hop) and embedded as the index embeds a
        file, on the index's runtime and precision; a query of several windows is their mean.

        Args:
            path: as `query_audio`.
            start: as `query_audio`.
            end: as `query_audio`.
            checkpoint: as `query_audio`.
            cache_dir: as `query_audio`.

        Returns:
            float32 array `(embedding_size,)`, unit length.

        Example:
        ```python
        query = index.embed("bark.wav")
        similarities = index.embeddings() @ query  # cosine: both are unit length
        ```

        Raises:
            AudioError: the file cannot be read, or the part asked for is shorter than the model accepts.
            ArchiveError: the model is not the index's.
        """
        from keras_panns.long_audio import embed_long

        wave = self.query_audio(path, start, end, checkpoint, cache_dir)
        runtime = self.manifest.get("runtime", {})  # the index's own path (OpenVINO bf16 differs from Keras)
        _, vectors = embed_long(
            self.model(checkpoint, cache_dir),
            wave,
            window_seconds=self.manifest["window_seconds"],
            hop_seconds=self.manifest["hop_seconds"],
            runtime=runtime.get("runtime", "keras"),
            precision=runtime.get("precision", "auto"),
        )
        return unit(np.mean(vectors, axis=0))

    # -- search ------------------------------------------------------------------------------------------

    def _vector_search(self, query, k):
        if len(self.windows) < EXACT_BELOW:
            if self._unit is None:
                self._unit = unit(self.embeddings())  # kept: a session of queries reads the table once
            return exact_search(self._unit, query, k)
        if self._vectors is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            vectors = WindowVectors(self._vector_folder, self.dims)

            def rows_of(part):  # from the part's footer: no column is read to count its rows
                return pq.read_metadata(os.path.join(self.path, "windows", part)).num_rows

            def embeddings_of(parts):
                table = pa.concat_tables([self._read_part("windows", p, ["embedding"]) for p in parts])
                return matrix_of(table.column("embedding").combine_chunks(), self.dims)

            vectors.update(self._window_parts, rows_of, embeddings_of)
            self._vectors = vectors
        return self._vectors.search(query, k)

    def label_scores(self, classes, thresholds=None):
        """Each window's score for `classes`: that of the class most over its threshold.

        From the stored scores, or else from the top-k tags (NaN where a window's tags hold none of `classes`).

        Args:
            classes: sequence of int, output indices.
            thresholds: float array `(classes of the model,)` or None (0 for every class: the best score).

        Returns:
            `(score, best)`: float arrays `(windows,)` of the score and int `(windows,)` of its class index
            (-1 where the tags say nothing).

        Raises:
            ArchiveError: the index holds neither scores nor tags.

        Example:
        ```python
        score, best = Index("recordings.index").label_scores([labels.index("Dog")])
        ```
        """
        if thresholds is None:
            thresholds = np.zeros(len(self.labels))
        if "scores" in self.outputs:
            scores = self.scores()[:, classes]
            pick = (scores - thresholds[classes]).argmax(axis=1)
            return scores[np.arange(len(scores)), pick], np.asarray(classes)[pick]
        if "tags" not in self.outputs:
            raise ArchiveError(f"{self.path} holds no scores or tags; index with --outputs tags or scores")
        wanted = {self.labels[c]: c for c in classes}
        score = np.full(len(self.windows), np.nan, np.float32)
        margin = np.full(len(self.windows), -np.inf)
        best = np.full(len(self.windows), -1, np.int64)
        for row, (names, values) in enumerate(zip(self.windows["top_labels"], self.windows["top_scores"])):
            for name, value in zip(names, values):
                if name in wanted and value - thresholds[wanted[name]] > margin[row]:
                    score[row], best[row] = value, wanted[name]
                    margin[row] = value - thresholds[wanted[name]]
        return score, best

    def search(
        self,
        like=None,
        *,
        start=None,
        end=None,
        label=None,
        group=None,
        min_score=0.5,
        top=10,
        level="windows",
        checkpoint=None,
        cache_dir=None,
        operating_points=None,
    ):
        """Windows, files or events: nearest to a query sound, scored as a class or group, or both.

        Args:
            like: str or None. An audio file: rank by cosine similarity of embeddings to it (or to its
                `start`..`end` seconds), embedded with the index's own model, window and hop.
            start: float or None. The part of `like` to use (seconds; default all of it).
            end: float or None. The part of `like` to use (seconds; default all of it).
            label: str or None. An AudioSet class (name or mid), or a class of a head applied to the index
                (`heads`): keep what scores at least `min_score`.
            group: str or None. An ontology group (e.g. "Vehicle"): its classes' maximum, as `tag --group`.
            min_score: float. The score a window, file or event needs for `label`/`group`.
            top: int. Rows returned.
            level: str. `windows`, `files` (each file's best window; with a label, its matching seconds too)
                or `events` (label or group only; needs an index with events).
            checkpoint: where the model for `like` comes from (default: the manifest's).
            cache_dir: where the model for `like` comes from (default: the manifest's).
            operating_points: `keras_panns.decisions.OperatingPoints` or None. Each class's own threshold
                instead of `min_score` (checked against the index's model); a head's class takes the point on
                its head's card.

        Returns:
            pandas DataFrame, best first: `path`, `start`, `end` (windows, files), `similarity` (with `like`),
            `label` and `score` (with `label`/`group`); files add `windows` (matching) and `seconds`; windows
            found by `like` alone add their `top_label` (an index with tags).

        Raises:
            ArchiveError: no query, an index without the embeddings, scores or events asked for, or a model
                that is not the index's. UnknownLabelError: no such class or group (with close names).
            AudioError: `like` unreadable or too short.

        Example:
        ```python
        Index("sounds.index").search(like="siren.wav", group="Vehicle", min_score=0.3, level="files")
        ```
        """
        if level not in LEVELS:
            raise ArchiveError(f"level {level!r}: choose from {', '.join(LEVELS)}")
        if like is None and label is None and group is None:
            raise ArchiveError("nothing to search for: give like (a sound), label or group")
        if top < 1:
            raise ArchiveError(f"top must be at least 1 (got {top})")
        classes = what = None
        head_class = self.head_class(label) if label is not None and group is None else None
        if head_class is None and (label is not None or group is not None):
            classes, what = _classes(self.labels, label, group)
        scored = classes is not None or head_class is not None
        thresholds = np.full(len(self.labels), float(min_score))  # float64: as the plain comparison it replaces
        if operating_points is not None:
            operating_points.check_model(self.manifest)
            thresholds = operating_points.thresholds(self.labels).astype(np.float64)
        head_bar = float(min_score)
        if head_class is not None and operating_points is not None:  # a head's points travel in the head
            head_bar = float(self.heads[head_class[0]]["thresholds"][label])
        if level == "events":
            if like is not None:
                raise ArchiveError("like ranks windows or files, not events: use level windows or files")
            if head_class is not None:
                events = self.head_events(head_class[0])
                picked = events[(events["label"] == label) & (events["score"].to_numpy() >= head_bar)]
                columns = ["path", "label", "onset", "offset", "score"]
                return (
                    picked.sort_values("score", ascending=False, kind="stable")
                    .head(top)[columns]
                    .reset_index(drop=True)
                )
            return self._events(classes, what, thresholds, top)
        frame = self.windows[["path", "start", "end"]].copy()
        keep = np.arange(len(frame))
        if classes is not None:
            score, best = self.label_scores(classes, thresholds)
            frame["label"] = [self.labels[b] if b >= 0 else None for b in best]
            frame["score"] = score
            keep = np.flatnonzero((best >= 0) & (score >= thresholds[best]))
        elif head_class is not None:
            score = self.head_scores(head_class[0])[:, head_class[1]]
            frame["label"] = label
            frame["score"] = score
            keep = np.flatnonzero(score >= head_bar)
        matching = frame.iloc[keep]
        if like is not None:
            self.require("embeddings")  # before the model is loaded and run on the query
            query = self.embed(like, start, end, checkpoint, cache_dir)
            wanted = top if level == "windows" else max(10 * top, 100)
            if not scored:
                rows, similarity = self._vector_search(query, wanted)
            else:  # only the windows that score as asked: exact search among them
                rows, similarity = exact_search(unit(self.embeddings(keep)), query, wanted)
                rows = keep[rows]
            frame = frame.iloc[rows].assign(similarity=similarity)
            order = "similarity"
        else:
            frame = frame.iloc[keep]
            order = "score"
        if level == "files":
            return self._by_file(frame, order, top, matching if scored else None)
        found = frame.sort_values(order, ascending=False, kind="stable").head(top)
        if not scored and "tags" in self.outputs:  # what a similar window is, at a glance
            found = found.assign(
                top_label=[n[0] if len(n) else None for n in self.windows["top_labels"].loc[found.index]]
            )
        return found.reset_index(drop=True)

    def _by_file(self, frame, order, top, matching):
        """Each file's best window of `frame`; with `matching` (the windows that score as asked), how many
        of them the file has and the seconds they cover."""
        import pandas as pd

        labelled = matching is not None
        stats = {}
        if labelled:
            for path, windows in matching.groupby("path", sort=False):
                stats[path] = (len(windows), _covered(windows["start"].to_numpy(), windows["end"].to_numpy()))
        columns = (
            ["path", "start", "end"]
            + (["similarity"] if order == "similarity" else [])
            + (["label", "score", "windows", "seconds"] if labelled else [])
        )
        rows = []
        for path, windows in frame.groupby("path", sort=False):
            best = windows.loc[windows[order].idxmax()]
            row = {"path": path, "start": best["start"], "end": best["end"]}
            if order == "similarity":
                row["similarity"] = best["similarity"]
            if labelled:
                count, seconds = stats.get(path, (0, 0.0))
                row.update(label=best["label"], score=best["score"], windows=count, seconds=seconds)
            rows.append(row)
        result = pd.DataFrame(rows, columns=columns)
        return result.sort_values(order, ascending=False, kind="stable").head(top).reset_index(drop=True)

    def _events(self, classes, what, thresholds, top):
        if "events" not in self.outputs:
            raise ArchiveError(
                f"{self.path} holds no events; index with --outputs events and a SED model "
                "(e.g. --model cnn14_decision_level_max)"
            )
        if classes is None:
            raise ArchiveError("level events needs label or group")
        events = self.events
        bars = thresholds[events["class_index"].to_numpy()] if len(events) else np.zeros(0)
        picked = events[events["class_index"].isin(classes) & (events["score"].to_numpy() >= bars)]
        return (
            picked.sort_values("score", ascending=False, kind="stable")
            .head(top)[["path", "label", "onset", "offset", "score"]]
            .reset_index(drop=True)
        )


def matrix_of(values, size):
    """float32 `(rows, size)` of an Arrow fixed-size-list column (one chunk), without a copy where it can.

    Example:
    ```python
    matrix_of(table.column("embedding").combine_chunks(), 2048).shape  # (rows, 2048)
    ```
    """
    return values.flatten().to_numpy(zero_copy_only=False).reshape(-1, size).astype(np.float32, copy=False)


def _covered(starts, ends):
    """Seconds covered by the union of intervals."""
    total, last = 0.0, -np.inf
    for s, e in sorted(zip(starts, ends)):
        if e <= last:
            continue
        total += e - max(s, last)
        last = e
    return float(total)
