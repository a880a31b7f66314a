"""Helpers for the test suite and maintainer tools: golden fixtures, parity cases, model checks.

Importable from anywhere (`from keras_panns.testing import golden`), so no
test or tool edits `sys.path`. Nothing in keras_panns imports this package.
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
#: The shared fixtures and recordings beside the checkout (`../shared`), or `$KERAS_PANNS_SHARED`.
SHARED = pathlib.Path(os.environ.get("KERAS_PANNS_SHARED", REPO.parent / "shared"))


def tool_module(name):
    """A script of `tools/` as a module, loaded once per process.

    A tool defines absl flags when it is loaded; loading it a second time would define them twice
    (`DuplicateFlagError`), so every test that needs it gets the same module.

    Args:
        name: str. The script's name without `.py` (`make_mixtures`).

    Returns:
        The module.

    Example:
    ```python
    mixtures = tool_module("make_mixtures")
    mixtures.write_mixtures("/tmp/mix", "../shared/data/esc10", 10)
    ```
    """
    import importlib.util
    import sys

    key = f"keras_panns_tools.{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REPO / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[key] = module
    return sys.modules[key]
