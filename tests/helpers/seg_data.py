"""Tiny synthetic segmentation trees in every layout gen3d reads (VOC, Cityscapes, GTA5, COCO, folder), for tests.

Images are ``H x W`` = 24 x 32 RGB; each mask is a deterministic function of the image index (:func:`label_map`),
so tests can compare loaded masks with the expected ones. Everything takes milliseconds.
"""

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image

H, W = 24, 32
VOC_IDS = [f"2007_{i:06d}" for i in range(1, 7)]
VOC_TRAIN = VOC_IDS[:3]
VOC_TRAINAUG = VOC_IDS[:4]
VOC_VAL = VOC_IDS[4:]
CITIES = {"train": ("aachen", "bonn"), "val": ("frankfurt",)}
N_PER_CITY = 2
GTA5_N = 3
FOLDER_LABELED = ("a0", "a1", "a2")
FOLDER_UNLABELED = ("u0", "u1", "u2", "u3", "u4")
FOLDER_VAL = ("v0", "v1")
FOLDER_CLASSES = ("background", "thing", "stuff")


def image(i: int, h: int = H, w: int = W) -> np.ndarray:
    """A deterministic ``(h, w, 3)`` uint8 RGB image."""
    rng = np.random.default_rng(1000 + i)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def label_map(i: int, num_classes: int, h: int = H, w: int = W, border: bool = True) -> np.ndarray:
    """A deterministic ``(h, w)`` uint8 mask: vertical bands of classes, a 255 border when ``border``."""
    cols = (np.arange(w) * num_classes // w + i) % num_classes
    mask = np.repeat(cols[None, :], h, axis=0).astype(np.uint8)
    if border:
        mask[0, :] = 255
    return mask


def write_rgb(path: Path, img: np.ndarray) -> None:
    """Write an RGB image (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR)), path


def write_grey(path: Path, mask: np.ndarray) -> None:
    """Write a grey uint8 PNG (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask, mode="L").save(path)


def write_palette(path: Path, mask: np.ndarray) -> None:
    """Write a palette PNG whose indices are ``mask`` (colours differ from the indices)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(mask, mode="P")
    palette = np.zeros((256, 3), np.uint8)
    palette[:, 0] = np.arange(256)[::-1]
    palette[:, 1] = (np.arange(256) * 7) % 256
    img.putpalette(palette.flatten().tolist())
    img.save(path)


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write lines to a text file (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{ln}\n" for ln in lines), encoding="utf-8")
    return path


def make_voc_tree(root: Path) -> Path:
    """VOC2012 with JPEGImages (png content in .jpg is avoided: real JPEG), Aug and palette masks, split lists.

    Also U2PL-style partition files under ``splits/pascal/2/{labeled,unlabeled}.txt``.
    """
    for i, vid in enumerate(VOC_IDS):
        write_rgb(root / "JPEGImages" / f"{vid}.jpg", image(i))
        write_grey(root / "SegmentationClassAug" / f"{vid}.png", label_map(i, 21))
        if vid in VOC_TRAIN or vid in VOC_VAL:
            write_palette(root / "SegmentationClass" / f"{vid}.png", label_map(i, 21))
    seg = root / "ImageSets" / "Segmentation"
    write_lines(seg / "train.txt", VOC_TRAIN)
    write_lines(seg / "val.txt", VOC_VAL)
    write_lines(seg / "trainaug.txt", VOC_TRAINAUG)
    write_lines(root / "splits" / "pascal" / "2" / "labeled.txt", VOC_TRAIN[:2])
    write_lines(root / "splits" / "pascal" / "2" / "unlabeled.txt", [VOC_TRAIN[2], VOC_TRAINAUG[3]])
    return root


def cityscapes_names(subset: str) -> list[tuple[str, str]]:
    """``(city, name)`` pairs of a subset, ``name`` = ``<city>_000000_<frame>``."""
    return [(c, f"{c}_000000_{f:06d}") for c in CITIES[subset] for f in range(N_PER_CITY)]


def make_cityscapes_tree(root: Path) -> Path:
    """leftImg8bit / gtFine (labelTrainIds) for train and val, and a U2PL split file of two train images."""
    k = 0
    for subset in CITIES:
        for city, name in cityscapes_names(subset):
            write_rgb(root / "leftImg8bit" / subset / city / f"{name}_leftImg8bit.png", image(k))
            write_grey(root / "gtFine" / subset / city / f"{name}_gtFine_labelTrainIds.png", label_map(k, 19))
            k += 1
    lines = [f"leftImg8bit/train/{c}/{n}_leftImg8bit.png" for c, n in cityscapes_names("train")[:2]]
    write_lines(root / "splits" / "labeled.txt", lines)
    write_lines(root / "splits" / "unlabeled.txt", [n for _, n in cityscapes_names("train")[2:]])
    return root


def gta5_raw_label(i: int) -> np.ndarray:
    """A GTA5 label of Cityscapes label ids: bands of 7 (road), 26 (car), 0 (unlabeled), 33 (bicycle), 3."""
    ids = np.array([7, 26, 0, 33, 3], np.uint8)
    cols = ids[(np.arange(W) * len(ids) // W + i) % len(ids)]
    return np.repeat(cols[None, :], H, axis=0)


def make_gta5_tree(root: Path) -> Path:
    """images/*.png and palette labels/*.png with raw label ids."""
    for i in range(GTA5_N):
        write_rgb(root / "images" / f"{i:05d}.png", image(i))
        write_palette(root / "labels" / f"{i:05d}.png", gta5_raw_label(i))
    return root


def make_coco_seg_tree(root: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A COCO json (polygon, compressed RLE, uncompressed RLE, crowd) and the expected semantic masks.

    Categories: id 5 ``cat``, id 2 ``dog`` -> labels dog 1, cat 2 (ids sorted) after background 0.
    """
    expected: dict[str, np.ndarray] = {}
    images, anns = [], []
    # image 1: a polygon dog (large) with an RLE cat (small) on top.
    write_rgb(root / "images" / "one.png", image(0))
    poly = [[2.0, 2.0, 20.0, 2.0, 20.0, 18.0, 2.0, 18.0]]
    cat = np.zeros((H, W), np.uint8)
    cat[5:10, 5:12] = 1
    rle = mask_utils.encode(np.asfortranarray(cat))
    rle["counts"] = rle["counts"].decode()
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy= DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        dog_mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, H, W)))
    images.append(dict(id=1, file_name="one.png", height=H, width=W))
    anns.append(dict(id=1, image_id=1, category_id=2, segmentation=poly, area=float(dog_mask.sum()), iscrowd=0))
    anns.append(dict(id=2, image_id=1, category_id=5, segmentation=rle, area=float(cat.sum()), iscrowd=0))
    exp = np.zeros((H, W), np.uint8)
    exp[dog_mask.astype(bool)] = 1
    exp[cat.astype(bool)] = 2
    expected["one.png"] = exp
    # image 2: an uncompressed-RLE cat and a crowd region.
    write_rgb(root / "images" / "two.png", image(1))
    cat2 = np.zeros((H, W), np.uint8)
    cat2[10:20, 20:30] = 1
    crowd = np.zeros((H, W), np.uint8)
    crowd[0:4, 0:8] = 1
    images.append(dict(id=2, file_name="two.png", height=H, width=W))
    anns.append(dict(id=3, image_id=2, category_id=5, segmentation=_uncompressed_rle(cat2), area=100.0, iscrowd=0))
    anns.append(dict(id=4, image_id=2, category_id=2, segmentation=_uncompressed_rle(crowd), area=32.0, iscrowd=1))
    exp = np.zeros((H, W), np.uint8)
    exp[crowd.astype(bool)] = 255
    exp[cat2.astype(bool)] = 2
    expected["two.png"] = exp
    coco = dict(images=images, annotations=anns, categories=[dict(id=5, name="cat"), dict(id=2, name="dog")])
    (root / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    return root, expected


def _uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (column-major run lengths starting with zeros)."""
    flat = mask.flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=[int(c) for c in counts])


def make_folder_seg_tree(root: Path) -> Path:
    """images/, masks/ (labeled + val only), splits/{labeled,unlabeled,val}.txt, classes.txt."""
    for k, stem in enumerate(FOLDER_LABELED + FOLDER_UNLABELED + FOLDER_VAL):
        write_rgb(root / "images" / f"{stem}.{'png' if k % 2 else 'jpg'}", image(k))
        if stem not in FOLDER_UNLABELED:
            write_grey(root / "masks" / f"{stem}.png", label_map(k, len(FOLDER_CLASSES)))
    write_lines(root / "splits" / "labeled.txt", list(FOLDER_LABELED))
    write_lines(root / "splits" / "unlabeled.txt", list(FOLDER_UNLABELED))
    write_lines(root / "splits" / "val.txt", list(FOLDER_VAL))
    write_lines(root / "classes.txt", list(FOLDER_CLASSES))
    return root
