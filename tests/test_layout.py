"""tests/ mirrors gen3d/: every subpackage has its tests/test_<name> folder, every sub-subpackage its tests."""

from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "gen3d"
TESTS = REPO_ROOT / "tests"


def _subpackages(folder: Path) -> list[Path]:
    """Packages directly under ``folder`` that hold at least one module besides ``__init__.py``."""
    return sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file() and (
        any(f.name != "__init__.py" for f in p.glob("*.py")) or any(p.glob("*/__init__.py"))))


def test_every_subpackage_has_a_test_package():
    top = _subpackages(PACKAGE)
    assert len(top) > 0
    missing = [p.name for p in top if not (TESTS / f"test_{p.name}" / "__init__.py").is_file()]
    assert not missing, f"add tests/test_<name>/ for gen3d subpackages {missing}"


def test_every_second_level_package_has_tests():
    missing = []
    for parent in _subpackages(PACKAGE):
        for child in _subpackages(parent):
            test_dir = TESTS / f"test_{parent.name}"
            if not (test_dir / f"test_{child.name}").is_dir() and not list(test_dir.glob(f"test_{child.name}*.py")):
                missing.append(f"{parent.name}/{child.name}")
    assert not missing, f"no tests/test_<parent>/test_<name>[...] for gen3d packages {missing}"
