"""Session fixtures: one tiny synthetic tree per anomaly layout (see tests/helpers/anomaly_data.py)."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers.anomaly_data import make_coco_tree, make_folder_tree, make_mvtec_tree, make_visa_tree  # noqa: E402


@pytest.fixture(scope="session")
def mvtec_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_mvtec_tree(tmp_path_factory.mktemp("mvtec")))


@pytest.fixture(scope="session")
def visa_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_visa_tree(tmp_path_factory.mktemp("visa")))


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_folder_tree(tmp_path_factory.mktemp("folder")))


@pytest.fixture(scope="session")
def folder_flat_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_folder_tree(tmp_path_factory.mktemp("folder_flat"), flat=True))


@pytest.fixture(scope="session")
def coco_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    expected: dict[str, np.ndarray] = {}
    root = make_coco_tree(tmp_path_factory.mktemp("coco"), expected=expected)
    return str(root), expected


@pytest.fixture(scope="session")
def coco_single_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    expected: dict[str, np.ndarray] = {}
    root = make_coco_tree(tmp_path_factory.mktemp("coco_single"), single_file=True, expected=expected)
    return str(root), expected
