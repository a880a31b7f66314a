"""The identity of a model source: what must be unchanged for a result made from it to still hold.

A local checkpoint file is identified by its name, size and modification time
(in nanoseconds); a preset folder by those of every file in it (`source_stat`).
A zoo name is identified by its card: the name and the published md5 of its
checkpoint, which the download verifies (`source_identity`). Neither reads the
weights, so checking one costs a `stat` per file, not a hash of hundreds of MB.

The archive's model-free rerun (`archive.resume`) and the commands' compiled
models (`runtimes.compiled`) both rest on it.

Example:
```python
source_identity("Cnn14_mAP=0.431.pth")  # {'stat': [['Cnn14_mAP=0.431.pth', 327428481, 17...]]}
source_identity("cnn14")                # {'card': 'cnn14', 'md5': '...'}
```
"""

import os


def source_stat(model):
    """(name, size, mtime_ns) of a local checkpoint file, or of every file of a preset directory; else None.

    Args:
        model: a model source (a path, a card name) or anything else (then None).

    Returns:
        A list of `[relative name, size, mtime_ns]`, or None when `model` is not a local path.

    Example:
    ```python
    source_stat("Cnn14_mAP=0.431.pth")  # [['Cnn14_mAP=0.431.pth', 327428481, 1733...]]
    ```
    """
    if not isinstance(model, (str, os.PathLike)) or not os.path.exists(model):
        return None
    root = os.path.abspath(model)
    if os.path.isfile(root):
        stat = os.stat(root)
        return [[os.path.basename(root), stat.st_size, stat.st_mtime_ns]]
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            stat = os.stat(os.path.join(folder, name))
            found.append([os.path.relpath(os.path.join(folder, name), root), stat.st_size, stat.st_mtime_ns])
    return sorted(found)


def source_identity(source):
    """The identity of a model source: a local path's `source_stat`, or a zoo card's name and published md5.

    Args:
        source: str or path-like: a checkpoint file, a preset folder, a zoo name or an official file name.

    Returns:
        dict, or None when the source cannot be identified without loading it (a URL, a card with no md5).

    Example:
    ```python
    source_identity("cnn14_16k")["card"]  # 'cnn14_16k'
    ```
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    stat = source_stat(source)
    if stat is not None:
        return {"stat": stat}
    from keras_panns.errors import UnknownModelError
    from keras_panns.hub import zoo

    try:
        card = zoo.card_for_file(os.fspath(source)) or zoo.get_card(os.fspath(source))
    except UnknownModelError:
        return None
    md5 = card.checkpoint.get("md5")
    return {"card": card.name, "md5": md5} if md5 else None
