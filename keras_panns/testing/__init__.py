"""Helpers for the test suite and maintainer tools: golden fixtures, parity cases, model checks.

Importable from anywhere (`from keras_panns.testing import golden`), so no
test or tool edits `sys.path`. Nothing in keras_panns imports this package.
"""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
#: The shared fixtures and recordings beside the checkout (`../shared`), or `$KERAS_PANNS_SHARED`.
SHARED = pathlib.Path(os.environ.get("KERAS_PANNS_SHARED", REPO.parent / "shared"))
