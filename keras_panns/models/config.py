"""A family's config plumbing: its constructor's arguments as the config, and checks shared by every family."""

import inspect


def check_labels(labels, num_classes):
    """Raises if a `labels` list does not name every output class."""
    if labels is not None and len(labels) != num_classes:
        raise ValueError(f"labels has {len(labels)} names but num_classes is {num_classes}")


def constructor_arguments(init, values):
    """The config of a constructor call: `init`'s named parameters (except self and name) looked up in `values`.

    Each family's `__init__` passes its own `locals()`, so the config is
    exactly the constructor's arguments after defaults are resolved.
    """
    names = [
        p.name
        for p in inspect.signature(init).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in ("self", "name")
    ]
    return {n: values[n] for n in names}
