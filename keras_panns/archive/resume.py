"""Resuming an index: what it already holds, read once, and what a new run of the same job has left to do.

A run is the same job as the one that made the index when its fingerprint
(`spec.FINGERPRINT_KEYS`) is the same. The writer checks that on the
manifest (`IndexStore.open`); before any model is loaded, `PriorIndex.finished`
answers a rerun with nothing left to do from the same entries, with the
model's entries (`spec.MODEL_KEYS`) stood in for by the model source's
fingerprint below.

The model source's fingerprint (`hub.identity.source_stat`): for a local checkpoint file,
its name, size and modification time in nanoseconds; for a preset folder,
those of every file in it. It is recorded in the manifest (`model_source_stat`)
when the weights are hashed, so while it is unchanged the weights are the ones
the manifest's `weights_sha256` names. A model given as an object, or a card
name, has none: its weights are always hashed.

A file is done when its (path, size, mtime) is in the `files` table; a file
listed with another size or mtime than its row was rewritten since, and is
retired from the index before it is indexed again.

Example:
```python
prior = PriorIndex("recordings.index")
if prior.finished(files, spec, source_stat("Cnn14_mAP=0.431.pth")):
    print("nothing left to run")
```
"""

from keras_panns.archive.reader import IndexReader
from keras_panns.archive.spec import comparable
from keras_panns.hub.identity import source_stat  # noqa: F401 (re-exported: resume_test and scripts use it here)


def not_done(files, done):
    """The rows of `files` whose (path, size, mtime) is not among `done`'s.

    Example:
    ```python
    not_done(list_sources(["archive/"]), IndexReader("archive.index").done_keys()).num_rows
    ```
    """
    return files.join(done, keys=["path", "size", "mtime"], join_type="left anti")


class PriorIndex:
    """What an index directory holds before a run: its manifest and committed files, each read once.

    Args:
        out: str or path-like. The index directory (it need not exist: then it holds nothing).

    Raises:
        ArchiveError: the manifest there is unreadable or of another format.

    Example:
    ```python
    prior = PriorIndex("recordings.index")
    runtime, precision = prior.runtime_request(spec)  # an auto run resumes on the path it was made on
    ```
    """

    def __init__(self, out):
        self.reader = IndexReader(out)
        self.manifest = self.reader.manifest
        self._done = None

    @property
    def done(self):
        """`pyarrow.Table` (path, size, mtime) of the committed files, read once."""
        if self._done is None:
            self._done = self.reader.done_keys()
        return self._done

    def finished(self, files, spec, stat):
        """Whether a run of `spec` over `files`, with a model source whose `source_stat` is `stat`, has nothing
        left to do, decided without the model.

        True only when the index was made from that same local model source, unchanged since (so the model's
        fingerprint entries are the same), with the same `spec` fingerprint and a runtime the spec runs on,
        and every listed file is committed. Every other case returns False: the model is loaded and the
        writer checks the whole fingerprint.

        Args:
            files: `pyarrow.Table` from `list_sources`.
            spec: `IndexSpec`.
            stat: `source_stat` of the model source now, or None.

        Returns:
            bool.

        Example:
        ```python
        PriorIndex("archive.index").finished(files, IndexSpec(), source_stat("cnn14.preset"))
        ```
        """
        old = self.manifest
        if old is None or stat is None or old.get("model_source_stat") != stat:
            return False
        if any(comparable(key, old.get(key)) != comparable(key, value) for key, value in spec.fingerprint().items()):
            return False
        if not spec.runs_on(old["runtime"]):
            return False
        return not_done(files, self.done).num_rows == 0

    def runtime_request(self, spec):
        """`(runtime, precision)` to ask for: an `auto` run over an index keeps the path it was made on.

        Example:
        ```python
        PriorIndex("archive.index").runtime_request(IndexSpec())  # ('openvino', 'float32')
        ```
        """
        if self.manifest is not None and (spec.runtime, spec.precision) == ("auto", "auto"):
            return self.manifest["runtime"]["runtime"], self.manifest["runtime"]["precision"]
        return spec.runtime, spec.precision

    def todo(self, files, store):
        """`(files to index, files changed since indexed)`: retires the changed files' rows from `store` first.

        A file in the index whose size or mtime differ now (rewritten, or copied anew) is retired, so that it is
        there once, as it is now, after this run.

        Args:
            files: `pyarrow.Table` from `list_sources`.
            store: the `IndexStore` of this index, opened for the run.

        Returns:
            `(pyarrow.Table, int)`.

        Example:
        ```python
        todo, changed = prior.todo(files, store)
        ```
        """
        done = self.done
        if done.num_rows == 0:
            return files, 0
        todo = not_done(files, done)
        # Paths are unique among the sources, so joining on path alone counts each changed file once.
        changed = todo.join(done.select(["path"]).group_by("path").aggregate([]), keys="path", join_type="inner")
        if changed.num_rows:
            store.retire(changed.column("path").to_pylist())
        return todo, changed.num_rows
