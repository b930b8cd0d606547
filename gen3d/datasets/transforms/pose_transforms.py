"""Pipeline steps of posed images with geometry (3D-aware GANs): file codecs, load, flip, pack.

File formats of the layout :class:`~gen3d.datasets.gan.PoseImageDataset` reads (one stem per image):

* ``depth/<stem>.png``: 16-bit grey, metres ``= value / depth_scale`` (``depth_scale`` in ``poses.json``);
  ``depth/<stem>.npy``: float ``(H, W)`` metres. Depth is the **distance along the unit ray** from the camera
  centre (what the renderer's ``sum w_i t_i`` gives, :mod:`gen3d.models.rendering.integrator`), 0 where the ray
  hits nothing.
* ``normal/<stem>.png``: 8-bit RGB holding ``round((n + 1) * 127.5)`` of the unit normal ``n = (x, y, z)`` in
  OpenGL **camera space** (``x`` right, ``y`` up, ``z`` towards the viewer, so a surface facing the camera has
  ``z > 0``; the frame of :func:`gen3d.models.rendering.normals_from_depth`). Black ``(0, 0, 0)``, which no unit
  vector encodes to, and any pixel that decodes to a vector shorter than :data:`MIN_NORMAL_NORM` (mid grey) mean
  "no surface" and decode to ``(0, 0, 0)``.
* ``mask/<stem>.png``: 8-bit grey, foreground opacity ``value / 255``.

A pipeline at the files' resolution::

    [dict(type="LoadGANImage"), dict(type="LoadPoseGeometry"),
     dict(type="PoseRandomFlip", prob=0.5), dict(type="PackPoseInputs")]

There is no geometry-aware resize: write the set at the training resolution (a crop would change the fov).
:class:`PackPoseInputs` refuses geometry whose size differs from the image's, and an image flipped by the 2D-only
:class:`~gen3d.datasets.transforms.GANRandomFlip` (its geometry and yaw would no longer match).
"""

import math

import cv2
import numpy as np
import torch

from gen3d.registry import TRANSFORMS

from ..seeding import private_seed
from .gan_transforms import PackGANInputs

GEOMETRY_KINDS = ("depth", "normal", "mask")
POSE_KEYS = ("yaw", "pitch", "radius", "fov")
MIN_NORMAL_NORM = 0.5
"""Decoded normals shorter than this are "no surface" (0); an 8-bit encoded unit vector decodes to norm >= 0.99."""
DEPTH_PNG_MAX = 65535


def encode_normal(normal: np.ndarray) -> np.ndarray:
    """Unit camera-space normals to 8-bit RGB (zero vectors to black).

    Args:
        normal: ``(H, W, 3)`` float, unit or zero.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    rgb = np.clip(np.round((normal + 1.0) * 127.5), 0, 255).astype(np.uint8)
    rgb[np.linalg.norm(normal, axis=-1) < MIN_NORMAL_NORM] = 0
    return rgb


def decode_normal(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB to unit camera-space normals (see the module docstring); "no surface" pixels are 0.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(H, W, 3)`` float32.
    """
    n = rgb.astype(np.float32) / 127.5 - 1.0
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    valid = (norm >= MIN_NORMAL_NORM) & rgb.any(-1, keepdims=True)
    return np.where(valid, n / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def encode_depth_png(depth: np.ndarray, depth_scale: float) -> np.ndarray:
    """Metres to 16-bit values ``round(depth * depth_scale)``.

    Raises:
        ValueError: A depth beyond ``65535 / depth_scale`` metres.
    """
    values = np.round(np.nan_to_num(depth) * float(depth_scale))
    if values.max(initial=0) > DEPTH_PNG_MAX or values.min(initial=0) < 0:
        raise ValueError(f"depth out of the 16-bit range [0, {DEPTH_PNG_MAX / depth_scale:.4g}] m at scale "
                         f"{depth_scale}")
    return values.astype(np.uint16)


def _read(path: str, flags: int) -> np.ndarray:
    """cv2.imread that raises naming the file."""
    img = cv2.imread(path, flags)
    if img is None:
        raise OSError(f"cannot decode {path}")
    return img


def read_depth(path: str, depth_scale: float | None = None) -> np.ndarray:
    """Depth map in metres, ``(H, W)`` float32, from a 16-bit PNG (needs ``depth_scale``) or a ``.npy`` file."""
    if path.endswith(".npy"):
        depth = np.load(path, allow_pickle=False)
        if depth.ndim != 2:
            raise ValueError(f"depth file {path} holds shape {depth.shape}, expected (H, W)")
        return depth.astype(np.float32)
    raw = _read(path, cv2.IMREAD_UNCHANGED)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"depth file {path} is {raw.dtype} {raw.shape}, expected a 16-bit grey PNG")
    if not depth_scale:
        raise ValueError(f"16-bit depth file {path} needs depth_scale (poses.json or the dataset argument)")
    return raw.astype(np.float32) / float(depth_scale)


def read_normal(path: str) -> np.ndarray:
    """Unit camera-space normals ``(H, W, 3)`` float32 from an RGB PNG (:func:`decode_normal`)."""
    raw = _read(path, cv2.IMREAD_COLOR)
    return decode_normal(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB))


def read_mask(path: str) -> np.ndarray:
    """Foreground opacity ``(H, W)`` float32 in ``[0, 1]`` from an 8-bit PNG (first channel of a colour one)."""
    raw = _read(path, cv2.IMREAD_UNCHANGED)
    raw = raw[..., 0] if raw.ndim == 3 else raw
    return raw.astype(np.float32) / (65535.0 if raw.dtype == np.uint16 else 255.0)


@TRANSFORMS.register_module()
class LoadPoseGeometry:
    """Load the geometry files a record names: adds ``depth`` ``(H, W)``, ``normal`` ``(H, W, 3)``, ``mask`` ``(H, W)``.

    Reads ``results['<kind>_path']`` for each kind of :data:`GEOMETRY_KINDS` present and not None (and
    ``results['depth_scale']`` for 16-bit depth). Errors name the file.
    """

    def __call__(self, results: dict) -> dict:
        """Load into ``results`` and return it."""
        readers = {"depth": lambda p: read_depth(p, results.get("depth_scale")), "normal": read_normal,
                   "mask": read_mask}
        for kind in GEOMETRY_KINDS:
            path = results.get(f"{kind}_path")
            if path:
                results[kind] = readers[kind](str(path))
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


def mirror_yaw(yaw: float) -> float:
    """Yaw of the camera mirrored in the world plane ``x = 0`` (which holds the mean camera axis ``+z``): ``pi - yaw``.

    Mirroring the scene and the camera in that plane gives the x-flipped image: camera-space ``x`` changes sign,
    ``y``, ``z``, the depth and the mask do not.
    """
    return math.pi - float(yaw)


@TRANSFORMS.register_module()
class PoseRandomFlip:
    """Horizontal flip of the image and its geometry together, with probability ``prob``.

    Flips ``img``, ``depth``, ``normal`` (negating its ``x``), ``mask``; sets ``yaw`` to :func:`mirror_yaw`.
    Sets ``flip`` and ``pose_flip`` (what :class:`PackPoseInputs` checks).

    Args:
        prob: Flip probability.
        seed: Seed of the random state (None: fresh entropy). Inside a loader built by the Runner each sample's draw
            comes from its key instead (:func:`gen3d.datasets.seeding.private_seed`), so a resumed run flips
            exactly as an uninterrupted one.
    """

    def __init__(self, prob: float = 0.5, seed: int | None = None) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must be in [0, 1], got {prob}")
        self.prob = float(prob)
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def __call__(self, results: dict) -> dict:
        """Flip (maybe) in place and return ``results``."""
        sample_seed = private_seed(self.seed)
        rng = self.rng if sample_seed is None else np.random.default_rng(sample_seed)
        flip = bool(rng.random() < self.prob)
        if flip:
            for key in ("img", "depth", "normal", "mask"):
                if key in results:
                    results[key] = np.ascontiguousarray(results[key][:, ::-1])
            if "normal" in results:
                results["normal"][..., 0] *= -1.0
            if "yaw" in results:
                results["yaw"] = mirror_yaw(results["yaw"])
        results["flip"] = flip
        results["pose_flip"] = flip
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(prob={self.prob})"


@TRANSFORMS.register_module()
class PackPoseInputs(PackGANInputs):
    """:class:`PackGANInputs` plus the pose and the geometry in ``data_samples``.

    Adds, where present: ``yaw``, ``pitch``, ``radius``, ``fov`` (floats; radians, radians, metres, degrees),
    ``pose`` float32 ``[2]`` = ``(pitch, yaw)`` (the order of ``PiGANGenerator.sample_pose``), ``depth`` float32
    ``[1, H, W]`` (ray distance, metres), ``normal`` float32 ``[3, H, W]`` (unit, camera space), ``mask`` float32
    ``[1, H, W]``.

    Args:
        meta_keys: As :class:`PackGANInputs`.

    Raises:
        ValueError: Geometry of another size than the image, or an image flipped without its geometry.
    """

    def __call__(self, results: dict) -> dict:
        """Return the packed dict."""
        where = results.get("img_path")
        if results.get("flip") and not results.get("pose_flip"):
            raise ValueError(f"{where}: the image was flipped without its pose and geometry (GANRandomFlip); use "
                             "PoseRandomFlip for posed images")
        packed = super().__call__(results)
        sample = packed["data_samples"]
        size = tuple(results["img"].shape[:2])
        for kind in GEOMETRY_KINDS:
            if kind not in results:
                continue
            value = np.asarray(results[kind], dtype=np.float32)
            if value.shape[:2] != size:
                raise ValueError(f"{where}: {kind} is {value.shape[:2]} but the image is {size}")
            value = value.transpose(2, 0, 1) if value.ndim == 3 else value[None]
            sample[kind] = torch.from_numpy(np.ascontiguousarray(value))
        for key in POSE_KEYS:
            if key in results:
                sample[key] = float(results[key])
        if "yaw" in results and "pitch" in results:
            sample["pose"] = torch.tensor([results["pitch"], results["yaw"]], dtype=torch.float32)
        return packed

