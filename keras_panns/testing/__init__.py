"""Helpers for the test suite and maintainer tools: golden fixtures, parity cases, model checks.

Importable from anywhere (`from keras_panns.testing import golden`), so no
test or tool edits `sys.path`. Nothing in keras_panns imports this package.
"""
