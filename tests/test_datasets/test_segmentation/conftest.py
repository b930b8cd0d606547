"""Session fixtures: one tiny synthetic tree per segmentation layout (see tests/helpers/seg_data.py)."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.helpers.seg_data import (  # noqa: E402
    make_cityscapes_tree,
    make_coco_seg_tree,
    make_folder_seg_tree,
    make_gta5_tree,
    make_voc_tree,
)


@pytest.fixture(scope="session")
def voc_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_voc_tree(tmp_path_factory.mktemp("voc")))


@pytest.fixture(scope="session")
def cityscapes_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_cityscapes_tree(tmp_path_factory.mktemp("cityscapes")))


@pytest.fixture(scope="session")
def gta5_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_gta5_tree(tmp_path_factory.mktemp("gta5")))


@pytest.fixture(scope="session")
def coco_seg_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    root, expected = make_coco_seg_tree(tmp_path_factory.mktemp("coco_seg"))
    return str(root), expected


@pytest.fixture(scope="session")
def folder_seg_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_folder_seg_tree(tmp_path_factory.mktemp("folder_seg")))
