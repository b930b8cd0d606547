"""An offline semi-supervised segmentation dataset made from the photographs that scikit-image ships.

Each image is a crop of a real texture photograph (``skimage.data`` brick, grass or gravel, tinted) with one to
three objects pasted on it. An object is a shape (ellipse, disc, rocket outline, rounded box) filled with a
crop of a real photograph (``chelsea`` the cat, ``coffee``, ``rocket``, ``astronaut``) at a random position and
scale; the mask is the shape itself, so it is exact. Later objects occlude earlier ones. The result is in the
generic layout of :class:`~gen3d.datasets.segmentation.FolderSegDataset`::

    <out_dir>/images/{l,u,v}NNNN.jpg   labeled / unlabeled / val images
    <out_dir>/masks/<stem>.png         class ids (0 background, 1.. objects) for labeled and val (and unlabeled
                                       when ``unlabeled_masks``)
    <out_dir>/splits/{labeled,unlabeled,val}.txt
    <out_dir>/classes.txt

Everything is deterministic for a seed and takes well under a second for a few dozen small images.
"""

import functools
from pathlib import Path

import cv2
import numpy as np

DEMO_CLASSES = ("background", "cat", "coffee", "rocket", "astronaut")
#: ``skimage.data`` photo and ``(y0, y1, x0, x1)`` crop around the object, per object class.
_OBJECT_SOURCES = {
    "cat": ("chelsea", (20, 290, 90, 380)),
    "coffee": ("coffee", (30, 330, 130, 470)),
    "rocket": ("rocket", (20, 420, 280, 370)),
    "astronaut": ("astronaut", (0, 300, 140, 380)),
}
_BACKGROUNDS = {"brick": (1.0, 0.75, 0.6), "grass": (0.7, 1.0, 0.55), "gravel": (0.9, 0.9, 0.95)}
_JPEG_QUALITY = 95


@functools.cache
def _photo(name: str) -> np.ndarray:
    """A ``skimage.data`` photograph as ``(H, W, 3)`` uint8 RGB (grey ones replicated)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def _shape_mask(cls_name: str, h: int, w: int) -> np.ndarray:
    """The ``(h, w)`` bool silhouette of an object class inside its box."""
    mask = np.zeros((h, w), np.uint8)
    if cls_name == "cat":
        cv2.ellipse(mask, (w // 2, h // 2), (max(1, w // 2 - 1), max(1, h // 2 - 1)), 0, 0, 360, 1, -1)
    elif cls_name == "coffee":
        cv2.circle(mask, (w // 2, h // 2), max(1, min(h, w) // 2 - 1), 1, -1)
    elif cls_name == "rocket":
        body_top = h // 3
        pts = np.array([[w // 2, 0], [w - 1, body_top], [w - 1, h - 1], [0, h - 1], [0, body_top]], np.int32)
        cv2.fillPoly(mask, [pts], 1)
    else:
        r = max(1, min(h, w) // 5)
        cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 1, -1)
        cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 1, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(mask, (cx, cy), r, 1, -1)
    return mask.astype(bool)


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A tinted random crop of a texture photograph, resized to ``size`` ``(H, W)``."""
    name = list(_BACKGROUNDS)[int(rng.integers(len(_BACKGROUNDS)))]
    tex = _photo(name)
    side = int(rng.integers(tex.shape[0] // 3, tex.shape[0] + 1))
    y0 = int(rng.integers(0, tex.shape[0] - side + 1))
    x0 = int(rng.integers(0, tex.shape[1] - side + 1))
    crop = cv2.resize(tex[y0:y0 + side, x0:x0 + side], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    tint = np.asarray(_BACKGROUNDS[name], np.float32) * rng.uniform(0.8, 1.1)
    return np.clip(crop.astype(np.float32) * tint, 0, 255).astype(np.uint8)


def render_sample(
    rng: np.random.Generator, size: tuple[int, int], max_objects: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """One image and its exact class-id mask.

    Args:
        rng: Random generator.
        size: ``(H, W)`` of the image.
        max_objects: Most objects pasted (at least one).

    Returns:
        ``(H, W, 3)`` uint8 RGB image and ``(H, W)`` uint8 mask with ids of :data:`DEMO_CLASSES`.
    """
    height, width = size
    img = _background(rng, size)
    mask = np.zeros(size, np.uint8)
    objects = list(_OBJECT_SOURCES)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls_name = objects[int(rng.integers(len(objects)))]
        photo, (y0, y1, x0, x1) = _OBJECT_SOURCES[cls_name]
        patch = _photo(photo)[y0:y1, x0:x1]
        scale = rng.uniform(0.3, 0.6) * min(height, width) / max(patch.shape[:2])
        h = max(4, min(height, round(patch.shape[0] * scale)))
        w = max(4, min(width, round(patch.shape[1] * scale)))
        patch = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        sil = _shape_mask(cls_name, h, w)
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        img[top:top + h, left:left + w][sil] = patch[sil]
        mask[top:top + h, left:left + w][sil] = DEMO_CLASSES.index(cls_name)
    return img, mask


def build_seg_demo_dataset(
    out_dir: str | Path,
    n_labeled: int = 8,
    n_unlabeled: int = 24,
    n_val: int = 8,
    size: int | tuple[int, int] = 96,
    seed: int = 0,
    unlabeled_masks: bool = False,
) -> Path:
    """Write the demo dataset described in the module docstring.

    Args:
        out_dir: Output folder (created; existing files of the same names are overwritten).
        n_labeled: Labeled training images.
        n_unlabeled: Unlabeled training images.
        n_val: Validation images.
        size: Image side, or ``(H, W)``.
        seed: Seed; the same seed gives the same files.
        unlabeled_masks: Also write the masks of the unlabeled images (to measure pseudo-label quality).

    Returns:
        ``out_dir`` as a Path.
    """
    size_hw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if min(size_hw) < 16:
        raise ValueError(f"size must be at least 16 pixels a side, got {size_hw}")
    root = Path(out_dir)
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("".join(f"{c}\n" for c in DEMO_CLASSES), encoding="utf-8")
    rng = np.random.default_rng(seed)
    for split, prefix, count, with_mask in (
        ("labeled", "l", n_labeled, True),
        ("unlabeled", "u", n_unlabeled, unlabeled_masks),
        ("val", "v", n_val, True),
    ):
        stems = [f"{prefix}{i:04d}" for i in range(int(count))]
        for stem in stems:
            img, mask = render_sample(rng, size_hw)
            cv2.imwrite(str(root / "images" / f"{stem}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
            if with_mask:
                cv2.imwrite(str(root / "masks" / f"{stem}.png"), mask)
        (root / "splits" / f"{split}.txt").write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
    return root
