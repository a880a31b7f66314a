"""The index's tables, declared once: each column's Arrow type, meaning and origin.

Everything else is derived from `TABLES` and `OUTPUTS`: the writer's Arrow
schemas (`IndexStore.commit`), the columns `keras_panns.Index` reads at once
or on demand, the file metadata that travels with every window through the
archive job (`IN_FLIGHT`), `--outputs`' help (`outputs_help`) and the docs'
table (`markdown`, kept equal to docs/archive.md by a test). A new column is
one `Column` here plus the code that fills it; a new table is one `Table`.

Tables are listed in commit order: `files` last, since a file counts as done
once its `files` row is in place (see `keras_panns.archive.store`). What
people add to an index afterwards (`annotations`, by `keras-panns label`)
is declared in `ADDED_TABLES`: each import is one part of its own, never
tied to a `files` part, so the job's clean-up leaves it alone. What a head
adds (`keras-panns classify apply`) is declared in `HEAD_TABLES`: they live
under `heads/NAME/`, one part per `windows` part and named as it, so a grown
index scores only its new parts.

Example:
```python
from keras_panns.archive import schema

schema.arrow_schema("windows", num_classes=527, embedding_size=2048, outputs=("tags",)).names
# ['path', 'window', 'start', 'end', 'top_labels', 'top_scores']
schema.table("files").column("status").description  # 'ok, or error (its reason is in errors)'
```
"""

import dataclasses

#: What `--outputs` can ask for, with what each adds to the index (the order `--help` lists them in).
OUTPUTS = {
    "tags": "the top-k labels and scores of each window",
    "scores": "all the classes' scores of each window",
    "embeddings": "each window's embedding",
    "events": "sound events with onset and offset (SED models, or a Cnn14 tagger's decision-level forward)",
}

#: Value types a column may declare; `[classes]` and `[embedding]` are fixed-size lists whose size is the
#: model's (the manifest's `num_classes` and `embedding_size`).
TYPES = (
    "string",
    "int32",
    "int64",
    "float32",
    "float64",
    "list<string>",
    "list<float32>",
    "float32[classes]",
    "float32[embedding]",
)


@dataclasses.dataclass(frozen=True)
class Column:
    """One column of an index table.

    Attributes:
        name: str. The Parquet column name.
        type: str. One of `TYPES`.
        description: str. What a value means, with its unit.
        source: str. Where the value comes from in the job.
        output: str or None. The `--outputs` choice that adds the column; None: always there.
        wide: bool. One value per class or dimension: `keras_panns.Index` reads it on demand.
        in_flight: bool. Carried with every window of its file through the job (file metadata).

    Example:
    ```python
    Column("start", "float64", "seconds from the file's start", "the window plan")
    ```
    """

    name: str
    type: str
    description: str
    source: str
    output: str = None
    wide: bool = False
    in_flight: bool = False

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {', '.join(TYPES)}")
        if self.output is not None and self.output not in OUTPUTS:
            raise ValueError(f"column {self.name}: output {self.output!r} is not one of {', '.join(OUTPUTS)}")

    def arrow_type(self, num_classes, embedding_size):
        """The column's `pyarrow.DataType` for a model with these sizes.

        Example:
        ```python
        table("windows").column("scores").arrow_type(527, 2048)  # fixed_size_list<item: float>[527]
        ```
        """
        import pyarrow as pa

        scalar = {
            "string": pa.string(),
            "int32": pa.int32(),
            "int64": pa.int64(),
            "float32": pa.float32(),
            "float64": pa.float64(),
        }
        if self.type.startswith("list<"):
            return pa.list_(scalar[self.type[len("list<") : -1]])
        if self.type == "float32[classes]":
            return pa.list_(pa.float32(), num_classes)
        if self.type == "float32[embedding]":
            return pa.list_(pa.float32(), embedding_size)
        return scalar[self.type]


@dataclasses.dataclass(frozen=True)
class Table:
    """One table of an index: a folder of Parquet parts.

    Attributes:
        name: str. The folder's name.
        description: str. What one row is.
        columns: tuple of `Column`.
        output: str or None. The `--outputs` choice that fills the table; None: every index has rows.

    Example:
    ```python
    [c.name for c in table("errors").columns]  # ['path', 'reason', 'error']
    ```
    """

    name: str
    description: str
    columns: tuple
    output: str = None

    def column(self, name):
        """The `Column` called `name`.

        Raises:
            KeyError: no such column (the message names the table's columns).

        Example:
        ```python
        table("events").column("onset").type  # 'float64'
        ```
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name} has no column {name!r}; it has {', '.join(self.names())}")

    def names(self, outputs=None, wide=True):
        """Column names in order: all of them, or those an index with `outputs` holds.

        Args:
            outputs: iterable of `OUTPUTS` keys, or None for every column.
            wide: bool. False leaves out the per-class and per-dimension columns.

        Example:
        ```python
        table("windows").names(("tags", "scores"), wide=False)  # [..., 'top_labels', 'top_scores']
        ```
        """
        chosen = None if outputs is None else set(outputs)
        return [
            c.name
            for c in self.columns
            if (chosen is None or c.output is None or c.output in chosen) and (wide or not c.wide)
        ]


def _file_columns():
    listing = "the source listing (local stat or S3 object)"
    header = "the file's header, read by the decoding task"
    return (
        Column("path", "string", "the file as listed (local path or s3:// URL)", listing, in_flight=True),
        Column("size", "int64", "bytes", listing, in_flight=True),
        Column("mtime", "float64", "modification time (Unix seconds)", listing, in_flight=True),
        Column("duration", "float64", "seconds (null for a file that could not be read)", header, in_flight=True),
        Column("sample_rate", "int32", "the file's own rate (null for an error)", header, in_flight=True),
        Column(
            "channels",
            "int32",
            "channels (null for an error; 0 when the decoder mixes to mono)",
            header,
            in_flight=True,
        ),
        Column("windows", "int32", "windows indexed", "the driver, once every window is in"),
        Column("status", "string", "ok, or error (its reason is in errors)", "the driver"),
    )


def _window_columns():
    plan = "the window plan (`long_audio.plan_windows`, as `tag_long`)"
    model = "the model workers' forward pass"
    return (
        Column("path", "string", "the file (as in files)", plan),
        Column("window", "int32", "index within the file", plan),
        Column("start", "float64", "seconds from the file's start", plan),
        Column("end", "float64", "seconds from the file's start", plan),
        Column("top_labels", "list<string>", "the top-k classes, best first", model, output="tags"),
        Column("top_scores", "list<float32>", "their scores", model, output="tags"),
        Column("scores", "float32[classes]", "every class's score", model, output="scores", wide=True),
        Column("embedding", "float32[embedding]", "the window's embedding", model, output="embeddings", wide=True),
    )


def _event_columns(detector="the driver's event detector over framewise scores stitched across windows",
                   classes="the model's output"):  # fmt: skip
    return (
        Column("path", "string", "the file (as in files)", detector),
        Column("label", "string", "the class's name", detector),
        Column("class_index", "int32", f"the class's index in {classes}", detector),
        Column("onset", "float64", "seconds from the file's start", detector),
        Column("offset", "float64", "seconds from the file's start", detector),
        Column("score", "float32", "the event's peak (smoothed) score", detector),
    )


#: What an annotation says about its span and class (`label_type`).
LABEL_TYPES = ("positive", "negative", "uncertain")


def _annotation_columns():
    imported = "the imported file (`keras-panns label --import`)"
    return (
        Column("path", "string", "the file (as in files)", imported),
        Column(
            "start", "float64", "seconds from the file's start (null: the whole file, a clip-level label)", imported
        ),
        Column("end", "float64", "seconds from the file's start (null: the whole file)", imported),
        Column("label", "string", "the class's name (the model's, or your own with `--own_classes`)", imported),
        Column("label_type", "string", f"{', '.join(LABEL_TYPES)}", imported),
        Column(
            "provenance", "string", "who or what said so: the import's file name and sha256, or a reviewer", imported
        ),
    )


def _head_score_columns():
    head = "the head run on the window's stored embedding (`keras-panns classify apply`)"
    return (
        Column("path", "string", "the file (as in windows)", head),
        Column("window", "int32", "index within the file (as in windows)", head),
        Column("scores", "float32[classes]", "each of the head's classes' score, in its card's order", head, wide=True),
    )


def _error_columns():
    task = "the decoding task or the model worker that failed"
    return (
        Column("path", "string", "the file (as in files)", task),
        Column("reason", "string", "the message", task),
        Column("error", "string", "the exception's class", task),
    )


#: Every table, in commit order (`files` last).
TABLES = (
    Table("windows", "one row per window of an indexed file", _window_columns()),
    Table("events", "one row per sound event", _event_columns(), output="events"),
    Table("errors", "one row per file that could not be indexed", _error_columns()),
    Table("files", "one row per source file, ok or failed: a file is done once its row is here", _file_columns()),
)

#: Tables that commands add to a finished index, one part per import (not tied to the files table).
ADDED_TABLES = (
    Table("annotations", "one row per label on a span (or a whole file) of an indexed file", _annotation_columns()),
)

#: Tables a head adds (`keras-panns classify apply`), under `heads/NAME/`, one part per `windows` part named as
#: it; `[classes]` is the head's classes here. A part counts once its `head_scores` part is in place.
HEAD_TABLES = (
    Table("head_scores", "one row per window: the head's scores", _head_score_columns()),
    Table(
        "head_events",
        "one row per run of windows scoring at least the class's point (`classify apply --events`)",
        _event_columns("runs of consecutive windows at or over the head's point for the class", "the head's classes"),
    ),
)

#: What travels with each window of a file through the job beside the files table's in-flight columns:
#: the file's window count and its length in samples at the model's rate.
JOB_FIELDS = ("total", "num_samples")


def table(name):
    """The `Table` called `name`.

    Raises:
        KeyError: no such table (the message names the tables).

    Example:
    ```python
    table("files").names()  # ['path', 'size', 'mtime', 'duration', 'sample_rate', 'channels', ...]
    ```
    """
    for declared in TABLES + ADDED_TABLES + HEAD_TABLES:
        if declared.name == name:
            return declared
    every = table_names() + added_table_names() + tuple(t.name for t in HEAD_TABLES)
    raise KeyError(f"no table {name!r}; the tables are {', '.join(every)}")


def table_names():
    """The table names in commit order (`files` last).

    Example:
    ```python
    table_names()  # ('windows', 'events', 'errors', 'files')
    ```
    """
    return tuple(t.name for t in TABLES)


def added_table_names():
    """The tables commands add to an index after the job (one part per import).

    Example:
    ```python
    added_table_names()  # ('annotations',)
    ```
    """
    return tuple(t.name for t in ADDED_TABLES)


def in_flight():
    """The file metadata every window row carries through the job: files' in-flight columns and `JOB_FIELDS`.

    Example:
    ```python
    in_flight()  # ('path', 'size', 'mtime', 'duration', 'sample_rate', 'channels', 'total', 'num_samples')
    ```
    """
    return tuple(c.name for c in table("files").columns if c.in_flight) + JOB_FIELDS


def arrow_schema(name, num_classes, embedding_size, outputs):
    """The `pyarrow.Schema` of table `name` in an index of a model with these sizes and `outputs`.

    Example:
    ```python
    arrow_schema("events", 527, 2048, ("events",)).field("onset").type  # DataType(double)
    ```
    """
    import pyarrow as pa

    declared = table(name)
    wanted = set(declared.names(outputs))
    return pa.schema(
        [(c.name, c.arrow_type(num_classes, embedding_size)) for c in declared.columns if c.name in wanted]
    )


def arrow_schemas(manifest):
    """`{table name: pyarrow.Schema}` for the index that `manifest` describes.

    Example:
    ```python
    arrow_schemas(IndexReader("recordings.index").manifest)["windows"].names
    ```
    """
    return {
        t.name: arrow_schema(t.name, manifest["num_classes"], manifest["embedding_size"], manifest["outputs"])
        for t in TABLES + ADDED_TABLES
    }


def describe():
    """`{table: {column: "type: description"}}`, every column of every table.

    Example:
    ```python
    describe()["events"]["onset"]  # 'float64: seconds from the file's start'
    ```
    """
    every = TABLES + ADDED_TABLES + HEAD_TABLES
    return {t.name: {c.name: f"{c.type}: {c.description}" for c in t.columns} for t in every}


def outputs_help():
    """`--outputs`' help: each choice and what it adds.

    Example:
    ```python
    outputs_help()  # 'What to store per window, comma-separated: tags (the top-k ...); ...'
    ```
    """
    choices = "; ".join(f"{name}: {text}" for name, text in OUTPUTS.items())
    return f"What to store, comma-separated ({', '.join(OUTPUTS)}). {choices}."


def markdown():
    """The docs' table of every column: table, column, type, with which `--outputs`, meaning, origin.

    Example:
    ```python
    print(markdown())  # | table | column | type | stored with | meaning | from |
    ```
    """
    lines = ["| table | column | type | stored with | meaning | from |", "|---|---|---|---|---|---|"]
    for declared in TABLES + ADDED_TABLES + HEAD_TABLES:
        for c in declared.columns:
            stored = f"`--outputs {c.output}`" if c.output else "always"
            stored = "`keras-panns label`" if declared in ADDED_TABLES else stored
            stored = "`keras-panns classify apply`" if declared in HEAD_TABLES else stored
            lines.append(f"| `{declared.name}` | `{c.name}` | {c.type} | {stored} | {c.description} | {c.source} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
