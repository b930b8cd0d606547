"""Metrics never import models: no module under ``gen3d/evaluation/`` imports ``gen3d.models`` (read with ast)."""

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

EVALUATION = REPO_ROOT / "gen3d" / "evaluation"
FORBIDDEN = "gen3d.models"


def _package_of(path: Path) -> str:
    """Dotted package a file's relative imports start from (``gen3d.evaluation.metrics`` for its modules)."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts if path.name == "__init__.py" else parts[:-1])


def _imported_modules(source: str, package: str) -> list[str]:
    """Absolute names that ``source`` imports: ``import``, ``from`` (relative ones resolved), ``import_module('...')``.

    ``from a import b`` yields ``a`` and ``a.b`` so that ``from gen3d import models`` is seen.
    """
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            names += [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
                      and a.value.startswith("gen3d.")]
    return names


def _forbidden(names: list[str]) -> list[str]:
    return [n for n in names if n == FORBIDDEN or n.startswith(FORBIDDEN + ".")]


def test_evaluation_imports_nothing_from_models():
    files = sorted(EVALUATION.rglob("*.py"))
    assert len(files) > 3, "found no evaluation modules"
    offenders = {}
    for path in files:
        bad = _forbidden(_imported_modules(path.read_text(), _package_of(path)))
        if bad:
            offenders[str(path.relative_to(REPO_ROOT))] = bad
    assert not offenders, f"gen3d/evaluation must not import gen3d.models: {offenders}"


def test_the_check_sees_absolute_relative_and_dynamic_imports():
    source = (
        "import gen3d.models.anomaly\nfrom gen3d import models\nfrom ...models.backbones import X\n"
        "import importlib\nimportlib.import_module('gen3d.models.gans')\nfrom .fid_inception import Y\n"
    )
    names = _imported_modules(source, _package_of(EVALUATION / "metrics" / "fid_metric.py"))
    assert _forbidden(names) == [
        "gen3d.models.anomaly", "gen3d.models", "gen3d.models.backbones", "gen3d.models.backbones.X",
        "gen3d.models.gans",
    ]
    assert "gen3d.evaluation.metrics.fid_inception" in names and "gen3d.registry" not in names
