"""mkdocs hooks: pages whose tables come from the repository rather than from prose.

`<!-- zoo-table -->` in a page becomes the table of the zoo's cards, read from `zoo/*.json` with plain
`json`; `<!-- top-level-names -->` becomes the table of the names `import keras_panns` offers, read from
the package's `_EXPORTS` with `ast`. The build imports nothing of keras_panns, so the site builds without a
Keras backend, and a name added to the package appears on the site without an edit here.
"""

import ast
import glob
import json
import os

ZOO_MARKER = "<!-- zoo-table -->"
NAMES_MARKER = "<!-- top-level-names -->"


def zoo_table(zoo_dir):
    """The zoo's cards as a Markdown table, one row per card, in the order `keras-panns models` lists them.

    Args:
        zoo_dir: The folder of the cards (`zoo/` of the repository).

    Returns:
        The table's Markdown, header included.

    Raises:
        FileNotFoundError: If the folder holds no card.

    Example:
    ```python
    print(zoo_table("zoo").splitlines()[0])
    ```
    """
    paths = sorted(glob.glob(os.path.join(zoo_dir, "*.json")))
    if not paths:
        raise FileNotFoundError(f"no zoo cards (*.json) in {zoo_dir}")
    rows = [
        "| name | architecture | sample rate | params (paper) | GFLOPs | AudioSet mAP | checkpoint |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
        config, metrics = card["config"], card.get("metrics") or {}
        params = f"{card['params']:,}" if card.get("params") else "–"
        flops = f"{card['multi_adds_g']:.2f}" if card.get("multi_adds_g") else "–"
        m_ap = f"{metrics['mAP']:.3f}" if metrics.get("mAP") is not None else "–"
        rate = f"{config.get('sample_rate', 32000) // 1000} kHz"
        rows.append(
            f"| `{card['name']}` | {card['architecture']} | {rate} | {params} | {flops} | {m_ap} | "
            f"`{card['checkpoint']['file_name']}` |"
        )
    return "\n".join(rows)


def top_level_names(init_path):
    """The names `keras_panns` exports lazily, as a Markdown table of name and where it is documented.

    Args:
        init_path: The package's `__init__.py`, whose `_EXPORTS` maps each name to (module, attribute).

    Returns:
        The table's Markdown, header included, with `from_pretrained` (defined in the file itself) first.

    Raises:
        ValueError: If the file has no `_EXPORTS` dictionary.

    Example:
    ```python
    print(top_level_names("keras_panns/__init__.py").splitlines()[2])
    ```
    """
    with open(init_path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    exports = next(
        (
            ast.literal_eval(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets)
        ),
        None,
    )
    if exports is None:
        raise ValueError(f"{init_path} defines no _EXPORTS")
    rows = ["| `keras_panns.` | is | documented in |", "|---|---|---|"]
    rows.append("| `from_pretrained` | function | `PANNsModel.from_pretrained` (Models) |")
    rows.append("| `__version__` | name | the package's version (`keras_panns.version`) |")
    for name, (module, attribute) in sorted(exports.items(), key=lambda item: item[0].lower()):
        if attribute is None:
            rows.append(f"| `{name}` | module | `{module}` |")
        else:
            rows.append(f"| `{name}` | name | `{module}.{attribute}` |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    """Fills the generated tables into a page's Markdown (an mkdocs hook)."""
    if ZOO_MARKER in markdown:
        zoo_dir = os.path.join(os.path.dirname(config["config_file_path"]), "zoo")
        markdown = markdown.replace(ZOO_MARKER, zoo_table(zoo_dir))
    if NAMES_MARKER in markdown:
        init_path = os.path.join(os.path.dirname(config["config_file_path"]), "keras_panns", "__init__.py")
        markdown = markdown.replace(NAMES_MARKER, top_level_names(init_path))
    return markdown
