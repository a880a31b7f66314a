"""The import structure of keras_panns: one way, from the bottom layer up to the command line.

layers -> checkpoint -> hub -> models -> (inference, long audio, export, data, training) -> cli, over
leaf modules (errors, labels, audio, events, plotting, version) that import no other layer. A module
imports only its own layer or those below it, at module level or inside a function, and no chain of
imports (function-level ones included) comes back to where it started.
"""

import ast
import pathlib

import keras_panns

PACKAGE = pathlib.Path(keras_panns.__file__).resolve().parent
LAYERS = [
    {
        "keras_panns.version",
        "keras_panns.errors",
        "keras_panns.atomic",
        "keras_panns.labels",
        "keras_panns.audio",
        "keras_panns.events",
        "keras_panns.plotting",
        "keras_panns.decisions",
        "keras_panns.calibration",
        "keras_panns.event_metrics",
    },
    {"keras_panns.layers"},
    {"keras_panns.checkpoint"},
    {"keras_panns.hub"},  # below the models, as keras-hub's preset_utils: it finds them in Keras' registry
    {"keras_panns.models"},
    {
        "keras_panns.inference",
        "keras_panns.long_audio",
        "keras_panns.export",
        "keras_panns.data",
        "keras_panns.training",
        "keras_panns.hear",
        "keras_panns.streaming",
        "keras_panns.runtimes",
    },
    {"keras_panns.demo", "keras_panns.archive"},  # a web page around an exported model; whole archives on Ray
    {"keras_panns.search"},  # reads and searches the archive's index
    {"keras_panns.heads"},  # classifier heads trained on the index's embeddings
    {"keras_panns.cli"},
    {"keras_panns.testing"},
    {"keras_panns"},  # the façade: keras_panns/__init__.py
]


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules():
    return {
        _module_name(p): p
        for p in PACKAGE.rglob("*.py")
        if not p.name.endswith("_test.py") and "__pycache__" not in p.parts
    }


def _group(module):
    parts = module.split(".")
    return module if len(parts) == 1 else ".".join(parts[:2])


def _layer(module):
    for index, layer in enumerate(LAYERS):
        if _group(module) in layer:
            return index
    raise AssertionError(f"{module} belongs to no layer of tests/test_layering.py; add it")


def _imports(path, modules):
    """The keras_panns modules `path` imports, each with the line it is imported on."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names
            ]
        else:
            continue
        found += [(t, node.lineno) for t in targets if t == "keras_panns" or t.startswith("keras_panns.")]
    return found


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def test_every_import_goes_down_or_stays_in_its_layer():
    wrong = []
    for module, imports in _graph().items():
        if module == "keras_panns":
            continue  # the façade may reach anything
        for target, line in imports:
            if _layer(target) > _layer(module):
                wrong.append(f"{module}:{line} imports {target} (layer {_layer(target)} > {_layer(module)})")
            if target == "keras_panns":
                wrong.append(f"{module}:{line} imports the façade keras_panns; import the module itself")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    graph = {m: {t for t, _ in imports if t != m} for m, imports in _graph().items()}
    state, cycles = {}, []

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_models_call_the_hub_directly():
    # keras-hub's way: the models import the preset loaders; no service locator stands between them.
    graph = _graph()
    imported = {t for t, _ in graph["keras_panns.models.panns_model"]}
    assert "keras_panns.hub.loaders" in imported
    for module, imports in graph.items():
        if _group(module) == "keras_panns.hub":
            assert not [t for t, _ in imports if _group(t) == "keras_panns.models"], module
