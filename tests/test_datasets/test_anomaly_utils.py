"""File listing, mask matching and hold-out helpers of the anomaly layouts."""

import pytest

from gen3d.datasets.anomaly._utils import MaskIndex, holdout_count, list_images, list_subdirs, seeded_rng, split_holdout


def test_list_images_extensions_case_insensitive(tmp_path) -> None:
    for name in ("a.PNG", "b.jpeg", "c.Tif", "d.bmp", "e.JPG", "f.tiff", ".hidden.png", "notes.txt", "g.gif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    names = [p.rsplit("/", 1)[1] for p in list_images(tmp_path)]
    assert names == ["a.PNG", "b.jpeg", "c.Tif", "d.bmp", "e.JPG", "f.tiff"]
    assert list_images(tmp_path / "missing") == []
    assert list_subdirs(tmp_path) == ["sub.png"] and list_subdirs(tmp_path, exclude=["sub.png"]) == []


def test_mask_index_prefers_mask_suffix(tmp_path) -> None:
    for name in ("001_mask.png", "001.png", "002.PNG", "0010_mask.png"):
        (tmp_path / name).write_bytes(b"x")
    index = MaskIndex(tmp_path)
    assert index.find("/imgs/001.jpg").endswith("001_mask.png")
    assert index.find("/imgs/002.bmp").endswith("002.PNG")
    assert index.find("/imgs/003.png") is None
    assert index.expected("/imgs/003.jpg") == str(tmp_path / "003_mask.png")


@pytest.mark.parametrize(
    "n, ratio, held", [(0, 0.1, 0), (1, 0.5, 0), (2, 0.1, 1), (10, 0.1, 1), (10, 0.26, 3), (5, 0.99, 4), (9, 0.0, 0)]
)
def test_holdout_count(n: int, ratio: float, held: int) -> None:
    assert holdout_count(n, ratio) == held
    kept, out = split_holdout(list(range(n)), ratio, seeded_rng(0, "cls"))
    assert len(out) == held and sorted(kept + out) == list(range(n)) and kept == sorted(kept)
