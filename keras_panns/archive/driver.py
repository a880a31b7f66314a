"""The driver of an index job: runs the stages on Ray, gathers each file's rows, commits them part by part.

`stages` holds what runs on the workers (decoding tasks, model actors);
`assemble.FileAssembler` turns their rows into table rows in the driver;
`Committer` writes finished files through the `IndexStore` every
`commit_every` files or `commit_seconds` seconds.

Example:
```python
run_job(todo, settings, model, choice, manifest, store, summary, JobResources())
```
"""

import gc
import sys
import time

from keras_panns.archive import stages
from keras_panns.archive.assemble import FileAssembler
from keras_panns.archive.ray_session import RaySession, quiet_ray_data
from keras_panns.errors import ArchiveError


class Committer:
    """Gathers finished files and commits them as one part once enough files or seconds have gone by."""

    def __init__(self, store, summary, bar, resources):
        self.store, self.summary, self.bar = store, summary, bar
        self.every, self.seconds = resources.commit_every, resources.commit_seconds
        self.pending, self.last = [], time.monotonic()

    def add(self, finished):
        self.pending.extend(finished)
        if len(self.pending) >= self.every or (self.pending and time.monotonic() - self.last >= self.seconds):
            self.commit()

    def commit(self):
        if not self.pending:
            return
        rows = {}
        for finished in self.pending:
            for table, table_rows in finished.items():
                rows.setdefault(table, []).extend(table_rows)
        self.store.commit(rows)
        summary = self.summary
        for finished in self.pending:
            file_row = finished["files"][0]
            if file_row["status"] == "ok":
                summary.indexed += 1
                summary.windows += file_row["windows"]
                summary.audio_hours += file_row["duration"] / 3600
            else:
                summary.failed += 1
        self.bar.update(len(self.pending))
        self.bar.set_postfix_str(f"{summary.audio_hours:.2f} h, {summary.failed} failed", refresh=False)
        self.pending, self.last = [], time.monotonic()


def run_job(todo, settings, model, choice, manifest, store, summary, resources):
    """Runs the job over `todo` on Ray and commits every finished file to `store`, counting into `summary`.

    Raises:
        ArchiveError: files whose windows never all came back (run the same command again for them).

    Example:
    ```python
    run_job(todo, settings, model, choice, manifest, store, summary, JobResources())
    ```
    """
    from tqdm.auto import tqdm

    labels = model.labels
    payload = stages.model_payload(model)
    show = sys.stderr.isatty() if resources.progress is None else resources.progress
    bar = tqdm(total=todo.num_rows, unit="file", desc="indexing", file=sys.stderr, disable=not show)
    with RaySession(resources.ray_address, resources.num_cpus) as ray, quiet_ray_data():
        dataset = stages.build_dataset(
            todo,
            settings,
            ray.put(payload),
            choice,
            model_workers=resources.model_workers,
            batch_size=resources.batch_size,
            options=resources.runtime_options(),
            gpus_per_worker=resources.gpus_per_worker,
        )
        del payload
        assembler = FileAssembler(manifest, labels)
        committer = Committer(store, summary, bar, resources)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            committer.add(assembler.add(batch))
        committer.commit()
        # The job's iterators and object references are freed now, while their Ray session is up: collected
        # later, inside another session of this process (the next job, a test), one of them reached Ray with
        # an owner that session does not know ("owner is unknown"; ray-project/ray#54841 is the same class).
        del dataset
        gc.collect()
    bar.close()
    if assembler.open:
        raise ArchiveError(
            f"{len(assembler.open)} files lost windows in the job (e.g. "
            f"{next(iter(assembler.open))[0]}); run the same command again to index them"
        )
