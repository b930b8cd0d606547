"""An offline class-labelled image set with controlled class similarity, for class-conditional GANs.

For BigGAN (Brock et al., arXiv 1809.11096) and InterClassGAN (He et al., arXiv 2203.11173: classes that look alike
should share more generator channels).

Six classes of procedural objects drawn with numpy / cv2 on varied backgrounds (a random two-colour gradient plus
pixel noise), each with a random colour, position, size and rotation:

=========  =====================================================================  ========================
class      what                                                                   similar to
=========  =====================================================================  ========================
disc       a filled circle                                                        ellipse
ellipse    a filled ellipse of the same area, axis ratio 0.5-0.75, any rotation   disc
square     a filled axis-aligned square (rotation within +-10 degrees)            diamond
diamond    the same square turned by 45 degrees (+-10)                            square
stripes    parallel bars across the whole image, any angle                        (dissimilar to all)
rings      2-4 concentric outlined circles                                        (dissimilar to all)
=========  =====================================================================  ========================

:data:`SIMILAR_PAIRS` lists the pairs meant to be alike (one compact blob differing in one shape parameter);
:data:`DISSIMILAR` the texture-like classes unlike every other. Written in the conditional
:class:`~gen3d.datasets.gan.ImageFolderDataset` layout, labels in sorted class-name order::

    <root>/<class_name>/<id>.png     RGB, size x size, ids 00000 ... num_per_class - 1
    <root>/README.txt

Image ``id`` of class ``k`` depends on ``(seed, k, id, size)`` only. CLI::

    python -m gen3d.datasets.class_synthesis OUT --num-per-class 200 --size 32
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("diamond", "disc", "ellipse", "rings", "square", "stripes")
"""Class names in label order (sorted, as :class:`~gen3d.datasets.gan.ImageFolderDataset` reads them)."""
SIMILAR_PAIRS = (("disc", "ellipse"), ("square", "diamond"))
DISSIMILAR = ("stripes", "rings")
SUPERSAMPLE = 4  # draw at 4x, then area-downsample (anti-aliased edges)


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A saturated random RGB colour ``(3,)`` in [0, 255] (HSV with S, V in [0.6, 1])."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(150, 256), rng.integers(150, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)


def _background(rng: np.random.Generator, side: int) -> np.ndarray:
    """A dull two-colour linear gradient at a random angle, ``(side, side, 3)`` float."""
    a, b = rng.uniform(0, 120, 3), rng.uniform(0, 120, 3)
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:side, 0:side] / max(side - 1, 1)
    t = np.clip(0.5 + (xx - 0.5) * np.cos(theta) + (yy - 0.5) * np.sin(theta), 0, 1)[..., None]
    return a * (1 - t) + b * t


def _polygon(centre: np.ndarray, half: float, angle: float) -> np.ndarray:
    """Corners ``(4, 2)`` of a square of half-side ``half`` turned by ``angle`` radians."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * half
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return centre + corners @ rot.T


def render(label: int, index: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Image ``index`` of class ``CLASSES[label]``.

    Args:
        label: Class index into :data:`CLASSES`.
        index: Image index within the class.
        size: Output side.
        seed: Dataset seed.

    Returns:
        ``(size, size, 3)`` uint8 RGB.
    """
    name = CLASSES[label]
    rng = np.random.default_rng([int(seed), int(label), int(index)])
    side = size * SUPERSAMPLE
    img = _background(rng, side)
    colour = _colour(rng)
    radius = rng.uniform(0.22, 0.36) * side  # object scale
    centre = rng.uniform(0.5 * side - 0.15 * side, 0.5 * side + 0.15 * side, 2)
    mask = np.zeros((side, side), np.uint8)
    ctr = tuple(int(v) for v in np.round(centre))
    if name == "disc":
        cv2.circle(mask, ctr, int(radius), 255, -1, cv2.LINE_AA)
    elif name == "ellipse":
        ratio = rng.uniform(0.5, 0.75)  # axes r / sqrt(q), r * sqrt(q): the area of the disc of radius r
        axes = (int(radius / np.sqrt(ratio)), int(radius * np.sqrt(ratio)))
        cv2.ellipse(mask, ctr, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
    elif name in ("square", "diamond"):
        angle = np.deg2rad(rng.uniform(-10, 10) + (45 if name == "diamond" else 0))
        pts = np.round(_polygon(centre, radius * 0.8, angle)).astype(np.int32)
        cv2.fillConvexPoly(mask, pts, 255, cv2.LINE_AA)
    elif name == "stripes":
        period, theta = rng.uniform(0.12, 0.22) * side, rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:side, 0:side]
        phase = ((xx * np.cos(theta) + yy * np.sin(theta)) / period + rng.uniform()) % 1.0
        mask = np.where(phase < 0.5, 255, 0).astype(np.uint8)
    else:  # rings
        n = int(rng.integers(2, 5))
        for r in np.linspace(radius * 0.3, radius * 1.2, n):
            cv2.circle(mask, ctr, int(r), 255, max(side // 40, 2), cv2.LINE_AA)
    alpha = (mask.astype(np.float64) / 255)[..., None]
    img = img * (1 - alpha) + colour * alpha
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    img = img + rng.normal(0, 4.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def build_class_dataset(root: str | Path, num_per_class: int = 200, size: int = 32, seed: int = 0) -> Path:
    """Write the six-class set of the module docstring under ``root``.

    Args:
        root: Output folder (created; ``<class>/*.png`` of an earlier build are replaced).
        num_per_class: Images per class.
        size: Image side (>= 8).
        seed: Dataset seed.

    Returns:
        ``root`` as a Path.

    Raises:
        ValueError: ``size < 8`` or ``num_per_class < 1``.
        OSError: A PNG that cannot be written.
    """
    if int(size) < 8 or int(num_per_class) < 1:
        raise ValueError(f"size must be >= 8 and num_per_class >= 1, got {size}, {num_per_class}")
    root = Path(root)
    for label, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.png"):
            stale.unlink()
        for i in range(int(num_per_class)):
            path = folder / f"{i:05d}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(render(label, i, int(size), seed), cv2.COLOR_RGB2BGR)):
                raise OSError(f"cannot write {path}")
    pairs = ", ".join(f"{a} ~ {b}" for a, b in SIMILAR_PAIRS)
    (root / "README.txt").write_text(
        f"gen3d class set (gen3d.datasets.class_synthesis, seed={seed}): {len(CLASSES)} classes x {num_per_class} "
        f"images, {size}x{size} RGB.\nClasses (label order): {', '.join(CLASSES)}.\n"
        f"Similar pairs: {pairs}; dissimilar to all: {', '.join(DISSIMILAR)}.\n", encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m gen3d.datasets.class_synthesis OUT [--num-per-class N] [--size S] [--seed K]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--num-per-class", type=int, default=200)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_class_dataset(args.out, args.num_per_class, args.size, args.seed)
    n = args.num_per_class * len(CLASSES)
    print(f"wrote {n} images of {args.size} px in {len(CLASSES)} classes to {args.out} "
          f"({n / (time.perf_counter() - start):.1f} images/s)")


if __name__ == "__main__":
    main()
