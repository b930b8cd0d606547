"""The build-time file check (gen3d/datasets/file_check.py) and its use by the anomaly, segmentation, GAN datasets."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from gen3d.datasets import file_check
from gen3d.datasets.anomaly import MVTecDataset
from gen3d.datasets.file_check import BadFilesError, MissingDataError, check_image_file
from gen3d.datasets.gan import ImageFolderDataset
from gen3d.datasets.segmentation import FolderSegDataset
from tests.helpers.anomaly_data import make_mvtec_tree
from tests.helpers.gan_data import write_image_folder
from tests.helpers.seg_data import make_folder_seg_tree


def _encoded(ext: str) -> bytes:
    img = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)  # noise: pixel data > headers
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_good_and_truncated_files_of_each_format(tmp_path, ext):
    data = _encoded(ext)
    good, cut, padded = tmp_path / f"good{ext}", tmp_path / f"cut{ext}", tmp_path / f"padded{ext}"
    good.write_bytes(data)
    cut.write_bytes(data[: len(data) * 2 // 3])
    padded.write_bytes(data + b"\0" * 3000)  # bytes after the end marker (camera padding): still fine
    assert check_image_file(str(good)) is None
    assert check_image_file(str(padded)) is None
    reason = check_image_file(str(cut))
    assert reason is not None and "truncated" in reason
    assert cv2.imread(str(good)) is not None


def test_empty_text_missing_and_header_only_files(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image\n")
    (tmp_path / "head.png").write_bytes(_encoded(".png")[:20])
    assert check_image_file(str(tmp_path / "empty.png")) == "empty file (0 bytes)"
    assert "not an image file" in check_image_file(str(tmp_path / "notes.png"))
    assert "unreadable PNG header" in check_image_file(str(tmp_path / "head.png"))
    assert check_image_file(str(tmp_path / "nope.png")) == "missing"


def _paths(ds, key="img_path"):
    return [ds.get_data_info(i)[key] for i in range(len(ds))]


@pytest.fixture
def broken_mvtec(tmp_path):
    """An MVTec tree with 3 bad normal training images (2 classes) and 1 bad defect mask; the clean val split."""
    root = make_mvtec_tree(tmp_path / "mvtec")
    clean_val = _paths(MVTecDataset(str(root), split="val", val_ratio=0.5))
    good = root / "bottle" / "train" / "good"
    (good / "000.png").write_bytes(b"")
    (good / "003.png").write_bytes((good / "003.png").read_bytes()[:300])
    (root / "carpet" / "train" / "good" / "001.png").write_text("a text file named .png\n")
    mask = root / "carpet" / "ground_truth" / "hole" / "001_mask.png"
    mask.write_bytes(mask.read_bytes()[:-12])  # IEND cut off
    bad = [str(good / "000.png"), str(good / "003.png"), str(root / "carpet" / "train" / "good" / "001.png")]
    return root, bad, str(mask), clean_val


@pytest.mark.parametrize("split", ["train", "val"])
def test_anomaly_bad_training_files_in_one_message(broken_mvtec, split):
    root, bad, _, _ = broken_mvtec
    with pytest.raises(BadFilesError) as err:  # train and val both report the whole train/good pool
        MVTecDataset(str(root), split=split, val_ratio=0.5)
    msg = str(err.value)
    assert "3 bad file(s) out of 12 in the train + val images of MVTecDataset" in msg
    assert all(p in msg for p in bad)
    assert "empty file (0 bytes)" in msg and "truncated PNG" in msg and "not an image file" in msg
    assert "bad_files='skip'" in msg and "--skip-bad-images" in msg


def test_anomaly_skip_keeps_the_split_and_logs_once(broken_mvtec, monkeypatch):
    root, bad, _, clean_val = broken_mvtec
    logged = []
    monkeypatch.setattr("mmengine.logging.print_log", lambda msg, **kw: logged.append(msg))
    train = MVTecDataset(str(root), split="train", val_ratio=0.5, bad_files="skip")
    val = MVTecDataset(str(root), split="val", val_ratio=0.5, bad_files="skip")
    train_paths, val_paths = set(_paths(train)), _paths(val)
    assert not (train_paths | set(val_paths)) & set(bad)
    assert len(train_paths) + len(val_paths) == 12 - 3
    assert val_paths == [p for p in clean_val if p not in bad]  # no good file moved between train and val
    assert len(logged) == 2 and logged[0].startswith("skipping 3 bad file(s)") and all(p in logged[0] for p in bad)


def test_anomaly_bad_mask_of_test_split_and_long_lists(broken_mvtec, monkeypatch):
    root, _, mask, _ = broken_mvtec
    with pytest.raises(BadFilesError, match=r"1 bad file\(s\) out of 20 in the test images") as err:
        MVTecDataset(str(root), split="test")
    assert f"cannot read mask file {mask}: truncated PNG" in str(err.value)
    test = MVTecDataset(str(root), split="test", bad_files="skip")
    assert len(test) == 11 and mask not in _paths(test, "mask_path")  # 12 test images, one with a bad mask
    monkeypatch.setattr(file_check, "MAX_LISTED", 1)  # more bad files than listed: the rest go to a file
    with pytest.raises(BadFilesError, match=r"\.\.\. and 2 more \(all listed in ") as err:
        MVTecDataset(str(root), split="train")
    listing = Path(str(err.value).split("all listed in ")[1].split(")")[0])
    assert len(listing.read_text().splitlines()) == 3


def test_anomaly_layout_errors_name_the_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingDataError, match=rf"no class folder found under data_root '{empty}'.*train/good"):
        MVTecDataset(str(empty))
    root = make_mvtec_tree(tmp_path / "mvtec")
    with pytest.raises(MissingDataError, match="looks like one class folder"):
        MVTecDataset(str(root / "bottle"))
    for p in (root / "carpet" / "train" / "good").iterdir():
        p.unlink()
    with pytest.raises(MissingDataError, match=rf"class 'carpet' has no normal training images in {root}/carpet"):
        MVTecDataset(str(root))
    (root / "bottle" / "ground_truth" / "crack" / "001_mask.png").unlink()
    expected = root / "bottle" / "ground_truth" / "crack" / "001_mask.png"
    with pytest.raises(MissingDataError, match=f"no mask for defective image .*001.png \\(expected {expected}\\)"):
        MVTecDataset(str(root), split="test", classes=["bottle"])


def test_segmentation_checks_images_and_label_masks(tmp_path):
    root = make_folder_seg_tree(tmp_path / "seg")
    (root / "masks" / "a1.png").write_bytes(b"")
    (root / "images" / "a2.jpg").write_bytes((root / "images" / "a2.jpg").read_bytes()[:-100])
    with pytest.raises(BadFilesError, match=r"2 bad file\(s\) out of 6 in split 'labeled'") as err:
        FolderSegDataset(str(root), split="labeled")
    assert "cannot read mask file" in str(err.value) and str(root / "masks" / "a1.png") in str(err.value)
    ds = FolderSegDataset(str(root), split="labeled", bad_files="skip")
    assert [Path(p).stem for p in _paths(ds)] == ["a0"]
    assert len(FolderSegDataset(str(root), split="val")) == 2  # other splits are untouched


def test_gan_image_folder_checks_its_images(tmp_path):
    root = write_image_folder(tmp_path / "faces", num=4)
    victim = sorted(p for p in root.rglob("*") if p.is_file())[0]
    victim.write_bytes(b"")
    with pytest.raises(BadFilesError, match=str(victim)):
        ImageFolderDataset(str(root))
    assert len(ImageFolderDataset(str(root), bad_files="skip")) == 3
    with pytest.raises(ValueError, match="bad_files must be one of"):
        ImageFolderDataset(str(root), bad_files="ignore")
