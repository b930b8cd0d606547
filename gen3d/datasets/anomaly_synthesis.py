"""gen3d's own defect synthesis, and a demo MVTec-layout dataset built from photographs shipped with scikit-image.

Defects (each ``synth_*(image, rng) -> (image, mask)``):
    scratch: a random thick polyline, bright on dark surfaces and dark on bright ones.
    dent: an elliptical, smoothly fading intensity change (a dent or bump under directional light).
    stain: a colour blob made of a few overlapping ellipses, alpha-blended.
    patch: a rectangle cut from elsewhere in the same image and pasted (CutPaste-like, Li et al., CVPR 2021).

``image`` is ``(H, W)`` or ``(H, W, 3)`` uint8 and is not modified; the returned image has the same shape.
The returned ``mask`` is ``(H, W)`` uint8 in {0, 255} and marks where the image really changed: pixels of the
drawn region that moved by less than :data:`MIN_CHANGE` grey levels are put back (so every pixel outside the
mask equals the input), and pinholes of the changed area are closed (so a few mask pixels may have changed
less). :func:`synthesize_defect` retries until the mask has at least ``min_area`` pixels.

:func:`build_demo_dataset` needs no download: it crops many "good" views of a few ``skimage.data``
photographs (objects and textures) and adds synthesised defects to some of them, writing the MVTec AD layout
read by :class:`~gen3d.datasets.MVTecDataset`.
"""

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from gen3d.datasets.anomaly._utils import seeded_rng

MIN_CHANGE = 16
"""Grey levels a pixel (any channel) must move by to count as changed."""

DEFECT_KINDS = ("scratch", "dent", "stain", "patch")

DEMO_SOURCES: dict[str, tuple[str, str]] = {
    "coffee": ("coffee", "object"),
    "chelsea": ("chelsea", "object"),
    "astronaut": ("astronaut", "object"),
    "rocket": ("rocket", "object"),
    "brick": ("brick", "texture"),
    "grass": ("grass", "texture"),
    "gravel": ("gravel", "texture"),
}
"""Demo class name -> (``skimage.data`` function, ``'object'`` or ``'texture'``); all present offline in 0.26."""

DEFAULT_DEMO_CLASSES = ("coffee", "chelsea", "brick", "gravel")


def _finalise(image: np.ndarray, new: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep ``new`` only where it differs from ``image`` by >= MIN_CHANGE inside ``region``; build the mask."""
    diff = np.abs(new.astype(np.int16) - image.astype(np.int16))
    if diff.ndim == 3:
        diff = diff.max(axis=2)
    changed = (region & (diff >= MIN_CHANGE)).astype(np.uint8)
    closed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    mask = (closed > 0) & region
    keep = mask[..., None] if image.ndim == 3 else mask
    out = np.where(keep, np.clip(new, 0, 255), image).astype(np.uint8)
    return out, mask.astype(np.uint8) * 255


def _far_level(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> float:
    """A grey level far from the mean of ``image`` under ``region``: bright on dark, dark on bright."""
    mean = float(image[region].mean()) if region.any() else float(image.mean())
    return float(rng.uniform(205, 255)) if mean < 128 else float(rng.uniform(0, 50))


def _blend(image: np.ndarray, target: np.ndarray | float, weight: np.ndarray) -> np.ndarray:
    """``image * (1 - weight) + target * weight`` in float32; ``weight`` is ``(H, W)``."""
    img = image.astype(np.float32)
    w = weight[..., None] if image.ndim == 3 else weight
    return img * (1.0 - w) + np.asarray(target, dtype=np.float32) * w


def synth_scratch(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A scratch: a random polyline of 2-4 segments, 1-2 % of the image side thick.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8.
        rng: Random generator.

    Returns:
        The scratched image (same shape) and its ``(H, W)`` 0/255 mask.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    pts = [rng.uniform((0.1 * w, 0.1 * h), (0.9 * w, 0.9 * h))]
    for _ in range(int(rng.integers(2, 5))):
        angle = rng.uniform(0, 2 * np.pi)
        step = rng.uniform(0.08, 0.25) * side * np.array([np.cos(angle), np.sin(angle)])
        pts.append(np.clip(pts[-1] + step, 0, (w - 1, h - 1)))
    region = np.zeros((h, w), np.uint8)
    thickness = max(1, round(side * rng.uniform(0.01, 0.02)))
    cv2.polylines(region, [np.round(pts).astype(np.int32)], False, 1, thickness, cv2.LINE_8)
    region = region > 0
    new = _blend(image, _far_level(image, region, rng), region * rng.uniform(0.75, 0.95))
    return _finalise(image, new, region)


def synth_dent(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dent or bump: an ellipse, 4-12 % of the image side, whose intensity shifts by 50-100 levels, fading out.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8.
        rng: Random generator.

    Returns:
        The dented image (same shape) and its ``(H, W)`` 0/255 mask.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    axes = np.maximum(2, rng.uniform(0.04, 0.12, size=2) * side).astype(int)
    center = rng.uniform((0.15 * w, 0.15 * h), (0.85 * w, 0.85 * h)).astype(int)
    shape = np.zeros((h, w), np.float32)
    cv2.ellipse(
        shape, (int(center[0]), int(center[1])), (int(axes[0]), int(axes[1])), rng.uniform(0, 180), 0, 360, 1.0, -1
    )
    weight = cv2.GaussianBlur(shape, (0, 0), sigmaX=max(1.0, float(axes.min()) / 3))
    weight /= max(float(weight.max()), 1e-6)
    region = weight > 0.05
    mean = float(image[region].mean())
    delta = rng.uniform(50, 100) * (-1.0 if mean > 110 else 1.0)
    w3 = weight[..., None] if image.ndim == 3 else weight
    return _finalise(image, image.astype(np.float32) + delta * w3, region)


def synth_stain(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A stain: 3-6 overlapping ellipses, blurred, alpha-blended (0.55-0.85) in a colour far from the surface.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8.
        rng: Random generator.

    Returns:
        The stained image (same shape) and its ``(H, W)`` 0/255 mask.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    center = rng.uniform((0.2 * w, 0.2 * h), (0.8 * w, 0.8 * h))
    blob = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(3, 7))):
        c = np.round(center + rng.normal(0, 0.04 * side, size=2)).astype(int)
        axes = np.maximum(2, rng.uniform(0.02, 0.07, size=2) * side).astype(int)
        cv2.ellipse(blob, (int(c[0]), int(c[1])), (int(axes[0]), int(axes[1])), rng.uniform(0, 180), 0, 360, 1.0, -1)
    weight = cv2.GaussianBlur(blob, (0, 0), sigmaX=max(1.0, 0.01 * side))
    region = weight > 0.05
    if image.ndim == 3:
        mean = image[region].mean(axis=0)
        candidates = rng.integers(0, 256, size=(8, 3)).astype(np.float32)
        colour = candidates[np.argmax(np.abs(candidates - mean).max(axis=1))]
    else:
        colour = _far_level(image, region, rng)
    return _finalise(image, _blend(image, colour, weight * rng.uniform(0.55, 0.85)), region)


def synth_patch(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A misplaced patch: a 12-25 % rectangle cut elsewhere in the image, maybe flipped, pasted at least its size away.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8.
        rng: Random generator.

    Returns:
        The image with the patch (same shape) and its ``(H, W)`` 0/255 mask.
    """
    h, w = image.shape[:2]
    ph = max(2, int(rng.uniform(0.12, 0.25) * h))
    pw = max(2, int(rng.uniform(0.12, 0.25) * w))
    sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    for _ in range(20):
        dy, dx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        if abs(dy - sy) >= ph or abs(dx - sx) >= pw:
            break
    content = image[sy : sy + ph, sx : sx + pw]
    if rng.random() < 0.5:
        content = content[::-1, ::-1]
    new = image.copy()
    new[dy : dy + ph, dx : dx + pw] = content
    region = np.zeros((h, w), bool)
    region[dy : dy + ph, dx : dx + pw] = True
    return _finalise(image, new, region)


SYNTHESIZERS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]] = {
    "scratch": synth_scratch,
    "dent": synth_dent,
    "stain": synth_stain,
    "patch": synth_patch,
}


def synthesize_defect(
    image: np.ndarray,
    rng: np.random.Generator | int,
    kind: str | None = None,
    min_area: int | None = None,
    max_tries: int = 20,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Add one defect to ``image``, retrying until its mask covers at least ``min_area`` pixels.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8; not modified.
        rng: Random generator or seed.
        kind: One of :data:`DEFECT_KINDS`; ``None`` draws one.
        min_area: Smallest accepted mask area in pixels; default ``max(12, H * W / 2000)``.
        max_tries: Draws before giving up.

    Returns:
        The defective image (same shape), its ``(H, W)`` 0/255 mask and the defect kind.

    Raises:
        ValueError: Unknown ``kind``, or no draw changed enough pixels (e.g. a flat image for ``'patch'``).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if kind is None:
        kind = DEFECT_KINDS[int(rng.integers(len(DEFECT_KINDS)))]
    if kind not in SYNTHESIZERS:
        raise ValueError(f"unknown defect kind {kind!r}; choose from {DEFECT_KINDS}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected an (H, W) or (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    min_area = max(12, h * w // 2000) if min_area is None else min_area
    for _ in range(max_tries):
        out, mask = SYNTHESIZERS[kind](image, rng)
        if int((mask > 0).sum()) >= min_area:
            return out, mask, kind
    raise ValueError(f"{kind!r} changed fewer than {min_area} pixels in {max_tries} tries (image too uniform?)")


def _demo_photo(name: str) -> np.ndarray:
    """The ``skimage.data`` photograph of a demo class, ``(H, W)`` or ``(H, W, 3)`` uint8."""
    import skimage.data

    photo = np.asarray(getattr(skimage.data, DEMO_SOURCES[name][0])())
    return photo[..., :3] if photo.ndim == 3 else photo


def _good_view(photo: np.ndarray, kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One normal sample: a jittered crop (objects: whole object, shifted/scaled; textures: any window), resized."""
    h, w = photo.shape[:2]
    if kind == "object":
        crop = min(h, w) * rng.uniform(0.88, 0.96)
        cy, cx = h / 2 + rng.uniform(-0.03, 0.03) * crop, w / 2 + rng.uniform(-0.03, 0.03) * crop
    else:
        crop = min(h, w) * rng.uniform(0.45, 0.55)
        cy, cx = rng.uniform(crop / 2, h - crop / 2), rng.uniform(crop / 2, w - crop / 2)
    y0 = int(np.clip(round(cy - crop / 2), 0, h - int(crop)))
    x0 = int(np.clip(round(cx - crop / 2), 0, w - int(crop)))
    view = photo[y0 : y0 + int(crop), x0 : x0 + int(crop)]
    if kind == "texture" and rng.random() < 0.5:
        view = view[:, ::-1]
    view = cv2.resize(np.ascontiguousarray(view), (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(view.astype(np.float32) * rng.uniform(0.94, 1.06), 0, 255).astype(np.uint8)


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image):
        raise OSError(f"could not write {path}")


def build_demo_dataset(
    out_dir: str | Path,
    size: int = 256,
    n_train: int = 40,
    n_test_good: int = 8,
    n_test_defect: int = 12,
    seed: int = 0,
    classes: Sequence[str] = DEFAULT_DEMO_CLASSES,
    defect_kinds: Sequence[str] = DEFECT_KINDS,
    overwrite: bool = False,
) -> list[str]:
    """Write a small MVTec-AD-layout dataset from ``skimage.data`` photographs; no download, deterministic per seed.

    Per class: ``train/good`` and ``test/good`` hold jittered crops of the photograph (random crop, shift,
    scale, brightness +-6 %; textures also a random window and horizontal flip); ``test/<kind>`` hold
    ``n_test_defect`` other crops with a synthesised defect each (kinds taken in turn) and
    ``ground_truth/<kind>/<stem>_mask.png`` their 0/255 masks. Grayscale photographs (brick, grass, gravel)
    stay grayscale, like MVTec's grid. Files are ``000.png``, ``001.png``, ... per folder.

    Args:
        out_dir: Root of the tree (created).
        size: Side of the square images.
        n_train: Normal training images per class.
        n_test_good: Normal test images per class.
        n_test_defect: Defective test images per class.
        seed: Seed; each class draws from its own stream, so a class's images do not depend on the others.
        classes: Names in :data:`DEMO_SOURCES`.
        defect_kinds: Kinds from :data:`DEFECT_KINDS`, used in turn.
        overwrite: Replace existing class folders instead of raising FileExistsError.

    Returns:
        The class names written.
    """
    unknown = [c for c in classes if c not in DEMO_SOURCES]
    if unknown:
        raise ValueError(f"unknown demo classes {unknown}; choose from {sorted(DEMO_SOURCES)}")
    bad_kinds = [k for k in defect_kinds if k not in SYNTHESIZERS]
    if bad_kinds or not defect_kinds:
        raise ValueError(f"defect_kinds must be a non-empty subset of {DEFECT_KINDS}, got {list(defect_kinds)}")
    out_dir = Path(out_dir)
    for cls_name in classes:
        cls_dir = out_dir / cls_name
        if cls_dir.exists() and any(cls_dir.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{cls_dir} exists and is not empty; pass overwrite=True to replace it")
            shutil.rmtree(cls_dir)
        photo = _demo_photo(cls_name)
        kind = DEMO_SOURCES[cls_name][1]
        rng = seeded_rng(seed, cls_name)
        for i in range(n_train):
            _write(cls_dir / "train" / "good" / f"{i:03d}.png", _good_view(photo, kind, size, rng))
        for i in range(n_test_good):
            _write(cls_dir / "test" / "good" / f"{i:03d}.png", _good_view(photo, kind, size, rng))
        for i in range(n_test_defect):
            defect = defect_kinds[i % len(defect_kinds)]
            idx = i // len(defect_kinds)
            image, mask, _ = synthesize_defect(_good_view(photo, kind, size, rng), rng, defect)
            _write(cls_dir / "test" / defect / f"{idx:03d}.png", image)
            _write(cls_dir / "ground_truth" / defect / f"{idx:03d}_mask.png", mask)
    return list(classes)
