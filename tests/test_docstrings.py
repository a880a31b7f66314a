"""Repository check: every public name on the API page has a Google-style docstring written in the source.

The public API is what `docs/api.md` renders: each module's `__all__` (or its public classes and
functions), and their public methods. Each needs a summary, `Args:` when it takes arguments, `Returns:`
(or `Yields:`) when it returns a value, `Raises:` when its own body raises, and an `Example:`. Methods that
override Keras' own (`call`, `get_config`, ...) are documented by Keras and not counted. The coverage
must be 100%: a new public name without its docstring fails here, named.
"""

import ast
import re
import textwrap

import pytest

from keras_panns.testing import REPO

griffe = pytest.importorskip("griffe")

_EXAMPLE = re.compile(r"^\s*Examples?:\s*\n\s*(```|>>>)", re.M)


def _keras_methods():
    import keras

    return set(dir(keras.Model)) | set(dir(keras.layers.Layer)) | set(dir(keras.callbacks.Callback))


def _public_objects():
    modules = re.findall(r"^::: (\S+)", (REPO / "docs" / "api.md").read_text(), re.M)
    package = griffe.load("keras_panns", search_paths=[str(REPO)], docstring_parser="google")
    keras_methods = _keras_methods()
    found = {}
    for name in modules:
        module = package[name[len("keras_panns.") :]]
        if module.exports is not None:
            names = [str(n) for n in module.exports]
        else:
            names = [n for n, m in module.members.items() if not n.startswith("_") and not m.is_alias]
        for member_name in names:
            member = module.members.get(member_name)
            if member is None:
                continue
            if member.is_alias:
                try:
                    member = member.final_target
                except griffe.AliasResolutionError:
                    continue
            if member.is_module or member.is_attribute:
                continue
            found[member.path] = member
            if member.is_class:
                for method_name, method in member.members.items():
                    if method_name.startswith("_") or method.is_alias or not method.is_function:
                        continue
                    if "property" in method.labels or method_name in keras_methods:
                        continue
                    found[method.path] = method
    return found


def _own_nodes(function_node):
    todo = list(function_node.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def _problems(obj):
    doc = obj.docstring
    if doc is None or not doc.value.strip():
        return ["no docstring"]
    kinds = {section.kind.value for section in doc.parse("google")}
    problems = []
    if obj.is_class and "dataclass" in obj.labels:
        parameters = []
    elif obj.is_class:
        init = obj.members.get("__init__")
        parameters = (
            [p.name for p in init.parameters if p.name != "self"] if init is not None and not init.is_alias else []
        )
    else:
        parameters = [p.name for p in obj.parameters if p.name not in ("self", "cls")]
    if parameters and "parameters" not in kinds:
        problems.append("Args")
    if obj.is_function:
        tree = ast.parse(textwrap.dedent("\n".join(obj.lines)))
        node = tree.body[0]
        nodes = list(_own_nodes(node))
        returns = any(isinstance(n, ast.Return) and n.value is not None for n in nodes)
        yields = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in nodes)
        if (returns or yields) and not kinds & {"returns", "yields"}:
            problems.append("Returns")
        if any(isinstance(n, ast.Raise) and n.exc is not None for n in nodes) and "raises" not in kinds:
            problems.append("Raises")
    if "examples" not in kinds and not _EXAMPLE.search(doc.value):
        problems.append("Example")
    return problems


def test_every_public_name_is_documented():
    objects = _public_objects()
    assert len(objects) > 150  # the API page renders them all; a broken walk must not pass vacuously
    missing = {path: problems for path, obj in sorted(objects.items()) if (problems := _problems(obj))}
    covered = 1 - len(missing) / len(objects)
    assert not missing, f"docstring coverage {covered:.1%} of {len(objects)} public names; incomplete:\n" + "\n".join(
        f"  {path}: no {', '.join(problems)}" for path, problems in missing.items()
    )


def test_the_top_level_functions_are_typed():
    """Every function `keras_panns` exports (and the preset API) annotates each parameter and its return."""
    import inspect

    import keras_panns

    functions = {
        name: getattr(keras_panns, name)
        for name, (_, attribute) in keras_panns._EXPORTS.items()
        if attribute is not None and inspect.isfunction(getattr(keras_panns, name))
    }
    functions["from_pretrained"] = keras_panns.from_pretrained
    for method in ("from_pretrained", "from_preset", "save_to_preset"):
        functions[f"PANNsModel.{method}"] = getattr(keras_panns.PANNsModel, method)
    assert len(functions) > 20
    untyped = []
    for name, function in sorted(functions.items()):
        signature = inspect.signature(function)
        bare = [
            p.name
            for p in signature.parameters.values()
            if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty
        ]
        if bare or signature.return_annotation is inspect.Signature.empty:
            untyped.append(f"{name}: {', '.join(bare) or 'the return'}")
    assert not untyped, "without type hints:\n" + "\n".join(untyped)


def test_the_architecture_constructors_are_typed():
    """Every architecture's constructor, where its ~20 options are read in an IDE, annotates each of them."""
    import inspect

    import keras_panns.models  # noqa: F401  (registers the architectures)
    from keras_panns.hub.registry import architectures

    classes = architectures()
    assert len(classes) >= 19
    untyped = []
    for name, cls in sorted(classes.items()):
        signature = inspect.signature(cls.__init__)
        bare = [p.name for p in signature.parameters.values() if p.name != "self" and p.annotation is p.empty]
        if bare or signature.return_annotation is signature.empty:
            untyped.append(f"{name}.__init__: {', '.join(bare) or 'the return'}")
    assert not untyped, "without type hints:\n" + "\n".join(untyped)


def _documented_args(cls):
    import inspect

    sections = griffe.Docstring(inspect.cleandoc(cls.__doc__ or ""), parser="google").parse(warnings=False)
    return {p.name: " ".join(p.description.split()) for s in sections if s.kind.value == "parameters" for p in s.value}


def _no_options():
    pass


def test_architectures_sharing_a_constructor_document_it_alike():
    """The Args written into each architecture's docstring (so IDEs show them) stay the same text wherever
    the classes share one constructor, e.g. the log-mel front end of Cnn6 ... ResNet54 ... Wavegram_Logmel;
    and each documents every parameter of that constructor."""
    import inspect

    import keras_panns.models  # noqa: F401  (registers the architectures)
    from keras_panns.hub.registry import architectures

    classes = architectures()
    groups = {}
    for name, cls in classes.items():
        # The constructor that takes the options (not one that only changes defaults, as Wavegram_Logmel128's).
        owner = next(
            c for c in cls.__mro__ if "dtype" in inspect.signature(vars(c).get("__init__", _no_options)).parameters
        )
        groups.setdefault(owner, []).append(name)
    assert max(len(names) for names in groups.values()) >= 10  # the log-mel family shares one constructor
    problems = []
    for owner, names in groups.items():
        wanted = [p for p in inspect.signature(owner.__init__).parameters if p not in ("self", "kwargs")]
        first, reference = names[0], _documented_args(classes[names[0]])
        for name in names:
            documented = _documented_args(classes[name])
            problems += [f"{name}: no Args entry for {p}" for p in wanted if p not in documented]
            problems += [
                f"{name}.{p} differs from {first}.{p}: {text!r} vs {reference.get(p)!r}"
                for p, text in documented.items()
                if p in wanted and text != reference.get(p)
            ]
    assert not problems, "\n".join(problems)


def test_no_two_public_names_differ_only_by_case():
    import warnings

    import keras_panns

    by_case = {}
    for name in keras_panns.__all__:
        by_case.setdefault(name.lower(), []).append(name)
    assert not [names for names in by_case.values() if len(names) > 1]
    # A renamed name still works for old scripts, says what to use, and is not public.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert keras_panns.index is keras_panns.index_archive
    assert "keras_panns.index is now keras_panns.index_archive" in str(caught[0].message)
    assert "index" not in keras_panns.__all__ and "index" not in dir(keras_panns)
