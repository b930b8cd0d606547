"""Tiny synthetic anomaly datasets in every layout gen3d reads (MVTec, VisA, folder, COCO), for tests.

Every tree has the classes of :data:`CLASSES`: ``bottle`` (48x48 RGB) and ``carpet`` (40x32 grayscale, H x W).
Per class: :data:`N_TRAIN` normal training images, :data:`N_TEST_GOOD` normal test images and
:data:`N_DEFECT` defective test images for each defect type in :data:`DEFECTS`. A defect is a filled
rectangle whose colour contrasts with the background; its mask is 255 on the rectangle. Everything is
deterministic (seeded) and takes a few milliseconds.
"""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils

CLASSES = ("bottle", "carpet")
SHAPES = {"bottle": (48, 48, 3), "carpet": (40, 32, 1)}
DEFECTS = ("crack", "hole")
N_TRAIN = 6
N_TEST_GOOD = 2
N_DEFECT = 2
N_TEST = N_TEST_GOOD + N_DEFECT * len(DEFECTS)


def normal_image(cls_name: str, rng: np.random.Generator) -> np.ndarray:
    """A normal image of ``cls_name``: a smooth gradient plus mild noise, ``(H, W, 3)`` or ``(H, W)`` uint8."""
    h, w, c = SHAPES[cls_name]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 60 + 40 * np.sin(xx / 5.0) + 30 * np.cos(yy / 7.0)
    img = base[..., None] + rng.normal(0, 4, size=(h, w, c)) + np.arange(c) * 20
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., 0] if c == 1 else img


def defect_box(rng: np.random.Generator, h: int, w: int) -> tuple[int, int, int, int]:
    """A random rectangle (x0, y0, x1, y1), end-exclusive, 6-12 px a side, inside an ``h x w`` image."""
    bw, bh = int(rng.integers(6, 13)), int(rng.integers(6, 13))
    x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    return x0, y0, x0 + bw, y0 + bh


def defective_image(cls_name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    """A defective image, its 0/255 mask ``(H, W)`` and the defect box (x0, y0, x1, y1)."""
    img = normal_image(cls_name, rng)
    h, w = img.shape[:2]
    box = defect_box(rng, h, w)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = 250
    mask = np.zeros((h, w), np.uint8)
    mask[y0:y1, x0:x1] = 255
    return img, mask, box


def write_image(path: Path, img: np.ndarray) -> Path:
    """Write ``img`` (RGB or gray) to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img), path
    return path


def make_mvtec_tree(root: Path, seed: int = 0) -> Path:
    """MVTec AD layout: ``<cls>/{train/good, test/good, test/<defect>, ground_truth/<defect>/<stem>_mask.png}``."""
    root = Path(root)
    for i, cls_name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, i])
        cls_dir = root / cls_name
        for k in range(N_TRAIN):
            write_image(cls_dir / "train" / "good" / f"{k:03d}.png", normal_image(cls_name, rng))
        for k in range(N_TEST_GOOD):
            write_image(cls_dir / "test" / "good" / f"{k:03d}.png", normal_image(cls_name, rng))
        for defect in DEFECTS:
            for k in range(N_DEFECT):
                img, mask, _ = defective_image(cls_name, rng)
                write_image(cls_dir / "test" / defect / f"{k:03d}.png", img)
                write_image(cls_dir / "ground_truth" / defect / f"{k:03d}_mask.png", mask)
        (cls_dir / "license.txt").write_text("synthetic\n")
    return root


def make_visa_tree(root: Path, seed: int = 0) -> Path:
    """Raw VisA layout with ``split_csv/1cls.csv``; images ``.JPG``, masks with region ids 1 and 2 (not 0/255)."""
    root = Path(root)
    rows = []
    for i, cls_name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, i, 1])
        data = root / cls_name / "Data"
        for k in range(N_TRAIN + N_TEST_GOOD):
            rel = f"{cls_name}/Data/Images/Normal/{k:04d}.JPG"
            write_image(root / rel, normal_image(cls_name, rng))
            rows.append([cls_name, "train" if k < N_TRAIN else "test", "normal", rel, ""])
        for k in range(N_DEFECT * len(DEFECTS)):
            img, mask, _ = defective_image(cls_name, rng)
            rel = f"{cls_name}/Data/Images/Anomaly/{k:03d}.JPG"
            mask_rel = f"{cls_name}/Data/Masks/Anomaly/{k:03d}.png"
            write_image(root / rel, img)
            ids = np.where(mask > 0, 1 + (np.arange(mask.shape[1]) % 2)[None, :], 0).astype(np.uint8)
            write_image(root / mask_rel, ids)
            rows.append([cls_name, "test", "anomaly", rel, mask_rel])
        (data / "image_anno.csv").write_text("image,label,mask\n")
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    with open(root / "split_csv" / "1cls.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["object", "split", "label", "image", "mask"])
        writer.writerows(rows)
    return root


def make_folder_tree(root: Path, seed: int = 0, flat: bool = False) -> Path:
    """Generic folder layout, split form (``train/good``, ``test/{good,<defect>}``, ``masks/<defect>``) or flat form.

    Flat form: ``<cls>/good`` holds ``N_TRAIN + N_TEST_GOOD`` images, ``<cls>/<defect>`` the defective ones and
    ``<cls>/masks/<defect>/<stem>.png`` their masks (no ``_mask`` suffix, to test that match too).
    """
    root = Path(root)
    for i, cls_name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, i, 2])
        cls_dir = root / cls_name
        for k in range(N_TRAIN + N_TEST_GOOD):
            if flat:
                sub = cls_dir / "good"
            else:
                sub = cls_dir / "train" / "good" if k < N_TRAIN else cls_dir / "test" / "good"
            write_image(sub / f"img_{k:03d}.jpg", normal_image(cls_name, rng))
        for defect in DEFECTS:
            for k in range(N_DEFECT):
                img, mask, _ = defective_image(cls_name, rng)
                sub = cls_dir / defect if flat else cls_dir / "test" / defect
                write_image(sub / f"img_{k:03d}.png", img)
                name = f"img_{k:03d}.png" if flat else f"img_{k:03d}_mask.png"
                write_image(cls_dir / "masks" / defect / name, mask)
    return root


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO uncompressed RLE (``counts`` a list, column-major, starting with zeros) of a binary ``(H, W)`` mask."""
    flat = (mask.reshape(-1, order="F") > 0).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": counts}


def make_coco_tree(
    root: Path, seed: int = 0, single_file: bool = False, expected: dict[str, np.ndarray] | None = None
) -> Path:
    """COCO layout: ``<cls>/train/good`` images and the test images with a COCO json.

    Per class the defective test images use, in turn, a polygon, an uncompressed RLE and a compressed RLE
    (the last one also gets a second, bbox-only annotation of the other category). Per-class form writes
    ``<cls>/test/annotations.json`` (file names relative to ``<cls>/test``); single-file form writes
    ``annotations/test.json`` (file names relative to the root).

    Args:
        root: Where to write the tree.
        seed: Seed of the images.
        single_file: Write the single-file form.
        expected: If given, filled with the expected {0, 1} ``(H, W)`` mask of every defective test image,
            keyed by its path (``str``).

    Returns:
        ``root``.
    """
    root = Path(root)
    expected = {} if expected is None else expected
    single = {"images": [], "annotations": [], "categories": []}
    for i, cls_name in enumerate(CLASSES):
        rng = np.random.default_rng([seed, i, 3])
        cls_dir = root / cls_name
        for k in range(N_TRAIN):
            write_image(cls_dir / "train" / "good" / f"{k:03d}.png", normal_image(cls_name, rng))
        categories = [{"id": j + 1, "name": d} for j, d in enumerate(DEFECTS)]
        coco = {"images": [], "annotations": [], "categories": categories}
        for k in range(N_TEST_GOOD + N_DEFECT * len(DEFECTS)):
            defective = k >= N_TEST_GOOD
            if defective:
                img, mask, (x0, y0, x1, y1) = defective_image(cls_name, rng)
            else:
                img, mask = normal_image(cls_name, rng), None
            path = write_image(cls_dir / "test" / "images" / f"{k:03d}.png", img)
            h, w = img.shape[:2]
            img_id = len(single["images"]) + len(coco["images"]) + 1
            coco["images"].append({"id": img_id, "file_name": f"images/{k:03d}.png", "height": h, "width": w})
            if not defective:
                continue
            form = (k - N_TEST_GOOD) % 3
            cat = 1 + (k - N_TEST_GOOD) % 2
            binary = (mask > 0).astype(np.uint8)
            if form == 0:
                seg = [[x0, y0, x1, y0, x1, y1, x0, y1]]
            elif form == 1:
                seg = uncompressed_rle(binary)
            else:
                rle = mask_utils.encode(np.asfortranarray(binary))
                seg = {"size": rle["size"], "counts": rle["counts"].decode()}
            ann_id = 1000 * (i + 1) + k
            coco["annotations"].append({"id": ann_id, "image_id": img_id, "category_id": cat, "segmentation": seg})
            if form == 2:
                bx0, by0 = (x0 + 20) % (w - 4), (y0 + 20) % (h - 4)
                coco["annotations"].append(
                    {"id": ann_id + 500, "image_id": img_id, "category_id": 3 - cat, "bbox": [bx0, by0, 3, 3]}
                )
                binary[by0 : by0 + 3, bx0 : bx0 + 3] = 1
            expected[str(path)] = binary
        if single_file:
            for im in coco["images"]:
                im["file_name"] = f"{cls_name}/test/{im['file_name']}"
            single["images"] += coco["images"]
            single["annotations"] += coco["annotations"]
            single["categories"] = coco["categories"]
        else:
            (cls_dir / "test" / "annotations.json").write_text(json.dumps(coco))
    if single_file:
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "test.json").write_text(json.dumps(single))
    return root
