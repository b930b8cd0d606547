"""The offline GAN demo set: the 100 face crops that scikit-image ships (``skimage.data.lfw_subset``).

``skimage.data.lfw_subset()`` returns a ``(200, 25, 25)`` array whose first 100 entries are faces and the next
100 non-faces (background patches of the same photographs), per its docstring (scikit-image 0.26,
``skimage/data/_fetchers.py``); they are grey crops of Labeled Faces in the Wild (Huang et al.). The file is
bundled with scikit-image, so nothing is downloaded.

This is a **limited-data** case: 100 training images (plus their mirror images when the flip augmentation is
on), far below the 1k-70k images GANs are usually trained on; FID/KID on it are small-sample estimates and a
generator trained on it memorises quickly. The layout is the unconditional
:class:`~gen3d.datasets.gan.ImageFolderDataset` layout::

    <out_dir>/train/face_NNN.png     the training faces (``100 - n_holdout`` of them)
    <out_dir>/holdout/face_NNN.png   ``n_holdout`` faces kept out of training (optional), e.g. a second
                                     real set for a real-vs-real metric floor
    <out_dir>/README.txt             what the folder is and where it came from
"""

from pathlib import Path

import cv2
import numpy as np

N_FACES = 100
"""The first ``N_FACES`` entries of ``lfw_subset()`` are faces (skimage docstring)."""
SOURCE_SIZE = 25


def lfw_faces() -> np.ndarray:
    """The 100 faces of ``skimage.data.lfw_subset()``.

    Returns:
        ``(100, 25, 25)`` uint8 grey images.
    """
    import skimage.data

    data = np.asarray(skimage.data.lfw_subset())
    if data.shape[0] < N_FACES or data.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE):
        raise ValueError(f"unexpected skimage.data.lfw_subset() shape {data.shape}")
    faces = data[:N_FACES]
    if faces.dtype != np.uint8:  # stored as float64 in [0, 1]
        faces = np.clip(np.round(faces * 255.0), 0, 255).astype(np.uint8)
    return faces


def build_gan_demo_dataset(
    root: str | Path,
    resolution: int = 32,
    n_holdout: int = 0,
    channels: int = 3,
    seed: int = 0,
) -> Path:
    """Write the limited-data demo set of the module docstring (100 LFW faces, grey, upscaled 25 -> ``resolution``).

    Args:
        root: Output folder (created; files of the same names are overwritten, stale ``face_*.png`` removed).
        resolution: Side of the written images; bicubic resampling from 25 px (a 32-px GAN sees no detail
            beyond the 25-px source).
        n_holdout: Faces written to ``holdout/`` instead of ``train/``, drawn with ``seed``; 0 writes none.
        channels: 3 writes grey faces as 3 equal channels (an RGB GAN), 1 as single-channel PNGs (a
            ``color_type='grayscale'`` pipeline; an RGB pipeline reading them repeats the channel).
        seed: Seed of the hold-out draw.

    Returns:
        ``root`` as a Path; train images are under ``root / 'train'``.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if int(resolution) < 8:
        raise ValueError(f"resolution must be at least 8, got {resolution}")
    if not 0 <= int(n_holdout) < N_FACES:
        raise ValueError(f"n_holdout must be in [0, {N_FACES}), got {n_holdout}")
    faces = lfw_faces()
    held = set(np.random.default_rng(seed).permutation(N_FACES)[: int(n_holdout)].tolist())
    root = Path(root)
    for split in ("train", "holdout"):
        for stale in (root / split).glob("face_*.png"):
            stale.unlink()
        if split == "train" or n_holdout:
            (root / split).mkdir(parents=True, exist_ok=True)
    interp = cv2.INTER_CUBIC if resolution > SOURCE_SIZE else cv2.INTER_AREA
    for i, face in enumerate(faces):
        img = cv2.resize(face, (int(resolution), int(resolution)), interpolation=interp)
        if channels == 3:
            img = np.repeat(img[:, :, None], 3, axis=2)
        path = root / ("holdout" if i in held else "train") / f"face_{i:03d}.png"
        if not cv2.imwrite(str(path), img):
            raise OSError(f"cannot write {path}")
    (root / "README.txt").write_text(
        f"gen3d GAN demo set: the {N_FACES} face crops of skimage.data.lfw_subset() (Labeled Faces in the Wild),\n"
        f"grey, {SOURCE_SIZE}x{SOURCE_SIZE} upscaled to {resolution}x{resolution} (bicubic), {channels} channel(s).\n"
        f"train/: {N_FACES - int(n_holdout)} images; holdout/: {int(n_holdout)} images (seed {seed}).\n"
        "Limited-data case: 100 images in all.\n",
        encoding="utf-8",
    )
    return root
