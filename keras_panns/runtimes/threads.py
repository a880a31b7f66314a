"""How many threads a runtime gets: every core this process may use, unless told otherwise."""

import os

from keras_panns.errors import ExportError


def available_cores():
    """Cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_threads(threads=None):
    """`threads`, or every available core when it is None or 0.

    Example:
    ```python
    resolve_threads(None)  # 2 on a 2-core machine
    ```
    """
    if threads in (None, 0):
        return available_cores()
    if int(threads) < 0:
        raise ExportError(f"threads must be a positive number of threads (or 0 for all cores), got {threads}")
    return int(threads)
