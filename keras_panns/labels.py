"""The 527 AudioSet classes (output unit i = row i) and the AudioSet ontology, shipped with the package.

The ontology (`assets/audioset_ontology.json`, CC BY-SA 4.0, see
`assets/AUDIOSET_ONTOLOGY_NOTICE.md`) arranges the 632 AudioSet classes in a
graph; a group such as "Vehicle" or "Music" is a node with all its
descendants. Names and mids are accepted alike, names case-insensitively.

Example:
```python
from keras_panns import labels
labels.descendants("Vehicle")[:3]             # ['Vehicle', 'Boat, Water vehicle', 'Sailboat, sailing ship']
labels.group_indices("Vehicle")[:3]           # [300, 301, 302]: output units of the group
labels.group_scores(scores, ["Vehicle", "Music"])   # {'Vehicle': 0.71, 'Music': 0.02}
```
"""

from __future__ import annotations

import csv
import difflib
import functools
import importlib.resources
import json

import numpy as np

from keras_panns.errors import UnknownLabelError


def _asset(name):
    return importlib.resources.files("keras_panns").joinpath(f"assets/{name}").read_text("utf-8")


@functools.lru_cache(maxsize=None)
def _audioset_table():
    rows = list(csv.DictReader(_asset("audioset_labels.csv").splitlines()))
    return tuple((int(r["index"]), r["mid"], r["display_name"]) for r in rows)


def audioset_labels() -> list[str]:
    """Display names of the 527 AudioSet classes in output order.

    Returns:
        A list of 527 str.

    Example:
    ```python
    keras_panns.audioset_labels()[0]  # 'Speech'
    ```
    """
    return [name for _, _, name in _audioset_table()]


def audioset_mids():
    """Freebase machine ids (`/m/09x0r`, ...) of the 527 classes in output order.

    Returns:
        A list of 527 str.

    Example:
    ```python
    keras_panns.labels.audioset_mids()[0]  # '/m/09x0r' (Speech)
    ```
    """
    return [mid for _, mid, _ in _audioset_table()]


@functools.lru_cache(maxsize=None)
def ontology():
    """`{mid: node}` of the AudioSet ontology; a node has `id`, `name`, `description`, `child_ids`, `restrictions`.

    Returns:
        dict of dicts (cached: do not modify).

    Example:
    ```python
    keras_panns.labels.ontology()["/m/0bt9lr"]["name"]  # 'Dog'
    ```
    """
    return {node["id"]: node for node in json.loads(_asset("audioset_ontology.json"))}


@functools.lru_cache(maxsize=None)
def _parents():
    parents = {mid: [] for mid in ontology()}
    for mid, node in ontology().items():
        for child in node["child_ids"]:
            parents[child].append(mid)
    return parents


def find_class(name_or_mid):
    """The mid of a class or group, by mid or (case-insensitive) name.

    Args:
        name_or_mid: str, a display name (`"dog"`) or a mid (`"/m/0bt9lr"`).

    Returns:
        The mid, str.

    Raises:
        UnknownLabelError: no such class; the message suggests close names.

    Example:
    ```python
    keras_panns.labels.find_class("dog")  # '/m/0bt9lr'
    ```
    """
    nodes = ontology()
    if name_or_mid in nodes:
        return name_or_mid
    key = str(name_or_mid).strip().lower()
    for mid, node in nodes.items():
        if node["name"].lower() == key:
            return mid
    close = difflib.get_close_matches(str(name_or_mid), [n["name"] for n in nodes.values()], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else " (see keras_panns.labels.ontology())"
    raise UnknownLabelError(f"{name_or_mid!r} is not an AudioSet class or group{hint}")


def _walk(mid, step):
    seen, order, todo = set(), [], [mid]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        seen.add(current)
        order.append(current)
        todo.extend(step(current))
    return order


def descendants(name_or_mid, include_self=True, mids=False):
    """The class and every class below it in the ontology (breadth first), as names (or mids).

    Args:
        name_or_mid: str, a class or group name or mid.
        include_self: bool. Whether the class itself comes first.
        mids: bool. Mids instead of display names.

    Returns:
        A list of str.

    Raises:
        UnknownLabelError: no such class.

    Example:
    ```python
    keras_panns.labels.descendants("Dog")[:3]  # ['Dog', 'Bark', 'Yip']
    ```
    """
    order = _walk(find_class(name_or_mid), lambda mid: ontology()[mid]["child_ids"])
    order = order if include_self else order[1:]
    return order if mids else [ontology()[m]["name"] for m in order]


def ancestors(name_or_mid, include_self=False, mids=False):
    """Every class above it in the ontology (nearest first), as names (or mids).

    Args:
        name_or_mid: as `descendants`.
        include_self: as `descendants`.
        mids: as `descendants`.

    Returns:
        A list of str.

    Raises:
        UnknownLabelError: no such class.

    Example:
    ```python
    keras_panns.labels.ancestors("Bark")  # ['Dog', 'Domestic animals, pets', 'Animal']
    ```
    """
    order = _walk(find_class(name_or_mid), lambda mid: _parents()[mid])
    order = order if include_self else order[1:]
    return order if mids else [ontology()[m]["name"] for m in order]


def group_indices(name_or_mid):
    """Sorted output units (of the 527) that belong to a group: the node itself and its descendants.

    Args:
        name_or_mid: str, a class or group name or mid.

    Returns:
        A sorted list of int.

    Raises:
        UnknownLabelError: the group is unknown, or none of its classes is a PANNs output class.

    Example:
    ```python
    keras_panns.labels.group_indices("Dog")[:5]  # [74, 75, 76, 77, 78]
    ```
    """
    members = set(descendants(name_or_mid, mids=True))
    indices = sorted(i for i, mid in enumerate(audioset_mids()) if mid in members)
    if not indices:
        raise UnknownLabelError(f"{name_or_mid!r} has no class among the 527 AudioSet outputs")
    return indices


def group_scores(scores, groups):
    """`{group: score}`: each group's score is the maximum over its output classes.

    Args:
        scores: array `(..., 527)` of clip or frame scores.
        groups: iterable of group names or mids.

    Returns:
        `{group: array (...)}`, the scores' shape without the class axis.

    Example:
    ```python
    keras_panns.labels.group_scores(clipwise, ["Vehicle", "Music"])  # {'Vehicle': 0.71, 'Music': 0.02}
    ```
    """
    scores = np.asarray(scores)
    return {group: scores[..., group_indices(group)].max(axis=-1) for group in groups}


def top_k_indices(scores, k, classes=None):
    """Indices of the `k` highest of a score vector, best first (ties by index); only among `classes` if given.

    Args:
        scores: array `(num_classes,)`.
        k: int. How many.
        classes: iterable of int or None. The candidates (e.g. `group_indices("Vehicle")`); None: all.

    Returns:
        A list of int.

    Example:
    ```python
    keras_panns.labels.top_k_indices(np.array([0.1, 0.9, 0.5]), 2)  # [1, 2]
    ```
    """
    scores = np.asarray(scores)
    candidates = np.arange(len(scores)) if classes is None else np.asarray(sorted(classes))
    return [int(i) for i in candidates[np.argsort(-scores[candidates], kind="stable")[:k]]]


def group_union(groups):
    """Sorted output units of several groups together.

    Args:
        groups: iterable of group names or mids.

    Returns:
        A sorted list of int.

    Raises:
        UnknownLabelError: a group is unknown or has no output class.

    Example:
    ```python
    len(keras_panns.labels.group_union(["Dog", "Cat"]))  # 12
    ```
    """
    return sorted({i for group in groups for i in group_indices(group)})
