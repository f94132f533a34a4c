"""Every public function and class documents itself and names the notebook that teaches it."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import layerlab

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"(lessons|labs)/[\w/]+\.ipynb")


def _public_objects():
    for info in pkgutil.iter_modules(layerlab.__path__):
        if info.name.startswith("_") or info.name in ("cli",):
            continue
        module = importlib.import_module(f"layerlab.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if name in ("configure", "run"):  # command-line hooks
                continue
            yield f"{module.__name__}.{name}", obj, module


def test_every_public_function_has_a_numpydoc_docstring():
    missing = [qual for qual, obj, _ in _public_objects() if not (obj.__doc__ or "").strip()]
    assert not missing, f"no docstring: {missing}"


def test_every_public_function_names_a_notebook_that_exists():
    unnamed, broken = [], []
    for qual, obj, module in _public_objects():
        refs = [m.group(0) for m in REF.finditer(obj.__doc__ or "")]
        if not refs:
            refs = [m.group(0) for m in REF.finditer(module.__doc__ or "")]
        if not refs:
            unnamed.append(qual)
        broken += [f"{qual}: {r}" for r in refs if not (ROOT / r).exists() and not (ROOT / r).with_suffix("").exists()]
    assert not broken, f"references to notebooks that do not exist: {broken}"
    assert not unnamed, f"name the lesson or lab that teaches these (or their module): {unnamed}"
