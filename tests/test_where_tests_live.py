"""Repository check: where tests live (CONTRIBUTING.md, "Where tests live").

Unit tests sit beside their module as `<module>_test.py`; `tests/` holds end-to-end runs (commands,
subprocesses, servers, clusters), parity with the reference and checks of the repository itself.
"""

import ast
import pathlib

import pytest

from keras_panns.testing import REPO

PACKAGE = REPO / "keras_panns"
# Imports that say nothing about which module a test is about.
_NEUTRAL = ("keras_panns", "keras_panns.testing", "keras_panns.errors")
# What makes a test in tests/ more than one module's unit test.
_END_TO_END = (
    "subprocess",
    "ray",
    "selenium",
    "keras_panns.testing.browser",
    "keras_panns.testing.workers",
    "keras_panns.testing.golden",
    "keras_panns.cli",
)
#: What a unit test beside its module never starts: another process, a Ray, a browser (CONTRIBUTING.md).
_PROCESSES = (
    "subprocess",
    "multiprocessing",
    "ray",
    "selenium",
    "keras_panns.testing.browser",
    "keras_panns.testing.workers",
)


def _imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _module_of(name):
    """`keras_panns.<module or package>` of an imported name, or None for names that tell nothing."""
    parts = name.split(".")
    if parts[0] != "keras_panns" or ".".join(parts[:2]) in _NEUTRAL:
        return None
    return ".".join(parts[:2])


def test_every_unit_test_sits_beside_the_module_it_is_named_after():
    astray = []
    for path in sorted(PACKAGE.rglob("*_test.py")):
        subject = path.name[: -len("_test.py")]
        if not ((path.parent / f"{subject}.py").is_file() or path.parent.name == subject):
            astray.append(str(path.relative_to(REPO)))
    assert not astray, f"no module or package of the same name beside: {astray}"


def test_unit_tests_start_no_process_and_no_ray():
    starting = []
    for path in sorted(PACKAGE.rglob("*_test.py")):
        found = sorted(
            {
                prefix
                for name in _imports(path)
                for prefix in _PROCESSES
                if name == prefix or name.startswith(prefix + ".")
            }
        )
        if found:
            starting.append(f"{path.relative_to(REPO)} imports {', '.join(found)}: move that test under tests/")
    assert not starting, "\n".join(starting)


def test_tests_folder_holds_no_unit_test_of_one_module():
    misplaced = []
    for path in sorted((REPO / "tests").glob("test_*.py")):
        imports = _imports(path)
        if any(name == prefix or name.startswith(prefix + ".") for name in imports for prefix in _END_TO_END):
            continue
        modules = {m for m in map(_module_of, imports) if m}
        if len(modules) == 1:
            (module,) = modules
            misplaced.append(f"{path.name} tests only {module}: move it beside that module as *_test.py")
    assert not misplaced, "\n".join(misplaced)


@pytest.mark.parametrize(
    "family", sorted(p.name for p in (PACKAGE / "models").iterdir() if (p / "__init__.py").is_file())
)
def test_every_model_family_has_a_test_file(family):
    assert list((PACKAGE / "models" / family).glob("*_test.py")), f"keras_panns/models/{family} has no *_test.py"


def test_no_conftest_but_the_root_one():
    assert [p.relative_to(REPO) for p in REPO.glob("**/conftest.py") if ".venv" not in p.parts] == [
        pathlib.Path("conftest.py")
    ]
