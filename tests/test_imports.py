"""Import hygiene: the backend is chosen before Keras starts, and library code stays portable.

Convention checked here: inside ``src/fincast`` only ``fincast/backend.py`` and modules
whose file name ends in ``_fastpath.py`` may import ``tensorflow``, ``jax`` or ``torch``
(at top level or inside a function, including ``importlib.import_module("torch")`` and
``__import__("jax")``). Everything else uses ``keras`` and ``keras.ops`` only. A
``*_fastpath.py`` module is an explicitly gated, backend-specific fast path: it must be
imported only after checking ``keras.backend.backend()``, and the portable ``keras.ops``
code stays the reference it is tested against.

Entry points must not import Keras (or a framework) at import time: the backend is
chosen from config first, and Keras fixes it on first import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import fincast

PACKAGE_DIR = Path(fincast.__file__).parent
FRAMEWORKS = frozenset({"tensorflow", "jax", "jaxlib", "torch"})
DYNAMIC_IMPORTERS = frozenset({"import_module", "__import__"})


def _may_import_frameworks(path: Path) -> bool:
    return path == PACKAGE_DIR / "backend.py" or path.name.endswith("_fastpath.py")


def _framework(module: str | None) -> str | None:
    root = (module or "").split(".")[0]
    return root if root in FRAMEWORKS else None


def framework_imports(source: str) -> list[tuple[int, str]]:
    """``(line, framework)`` for every import of a framework in ``source``.

    >>> framework_imports("import os\\nfrom jax import numpy\\ndef f():\\n    import torch.nn")
    [(2, 'jax'), (4, 'torch')]
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str | None] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else None
            called = function.id if isinstance(function, ast.Name) else called
            first = node.args[0]
            if called in DYNAMIC_IMPORTERS and isinstance(first, ast.Constant):
                names = [str(first.value)]
        found += [(node.lineno, name) for name in map(_framework, names) if name]
    return sorted(found)


def test_the_checker_sees_every_form_of_import():
    source = "\n".join(
        [
            "import numpy, tensorflow as tf",
            "from torch.nn import functional",
            "from .jax import helper",  # relative: fincast's own module, not the framework
            "def f():",
            "    import jax.numpy as jnp",
            "    importlib.import_module('torch')",
            "    return __import__('jaxlib')",
            "import keras",
        ]
    )
    assert framework_imports(source) == [
        (1, "tensorflow"),
        (2, "torch"),
        (5, "jax"),
        (6, "torch"),
        (7, "jaxlib"),
    ]


def test_only_backend_and_fastpath_modules_import_frameworks():
    offenders = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {framework}"
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if not _may_import_frameworks(path)
        for line, framework in framework_imports(path.read_text())
    ]
    assert not offenders, (
        "Only fincast/backend.py and gated *_fastpath.py modules may import a framework; "
        "use keras / keras.ops instead:\n" + "\n".join(offenders)
    )


def _entry_modules() -> list[str]:
    cli = PACKAGE_DIR / "cli"
    return ["fincast", "fincast.cli"] + [
        f"fincast.cli.{path.stem}" for path in sorted(cli.glob("*.py")) if path.stem != "__init__"
    ]


_PROBE = """
import importlib, json, sys
watched = ("keras", "tensorflow", "jax", "torch")
first = {}
for module in sys.argv[1:]:
    importlib.import_module(module)
    for name in watched:
        if name in sys.modules and name not in first:
            first[name] = module
print(json.dumps(first))
"""


def test_fincast_and_entry_points_do_not_import_keras():
    modules = _entry_modules()
    assert len(modules) > 2, "no CLI modules found"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported_by = json.loads(result.stdout.strip().splitlines()[-1])
    assert not imported_by, "\n".join(
        f"importing {module} imported {name}" for name, module in imported_by.items()
    )


@pytest.mark.parametrize("module", ["fincast.backend", "fincast.paths"])
def test_light_modules_import_without_keras(module):
    code = f"import sys, {module}; print(sorted(set(sys.modules) & {{'keras', 'jax', 'torch'}}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


# Packages a layer must not import: lower layers know nothing of the ones built on them.
FORBIDDEN_LAYERS = {
    "tracking": ("fitting", "training", "evaluation", "serving", "dashboard", "cli"),
    "serving": ("fitting", "training", "evaluation", "dashboard", "cli"),
    # the one fit sits below evaluation and training: both call it
    "fitting": ("training", "evaluation", "serving", "tracking", "dashboard", "cli"),
    "evaluation": ("training", "dashboard", "cli"),
    "training": ("dashboard", "cli"),
}


def fincast_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every absolute import of a ``fincast`` module in ``source``.

    >>> fincast_imports("import os\\nfrom fincast.data import cache\\nimport fincast.cli")
    [(2, 'fincast.data'), (3, 'fincast.cli')]
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [(node.lineno, name) for name in names if name.split(".")[0] == "fincast"]
    return sorted(found)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN_LAYERS))
def test_lower_layers_do_not_import_the_layers_above(layer):
    above = FORBIDDEN_LAYERS[layer]
    offenders = [
        f"{path.relative_to(PACKAGE_DIR.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE_DIR / layer).rglob("*.py"))
        for line, module in fincast_imports(path.read_text())
        if module.split(".")[1:2] and module.split(".")[1] in above
    ]
    assert not offenders, f"fincast.{layer} must not import {', '.join(above)}:\n" + "\n".join(
        offenders
    )
