"""Pipeline steps of RGBD images (DepthGAN, arXiv 2202.08553): depth codecs, load + normalise, pack.

Depth of :class:`~gen3d.datasets.rgbd.RGBDDataset` is **planar z** (distance along the optical axis), what
DepthGAN's warp unprojects (``(x d, y d, d) K^-1``, ``runners/losses/depthgan_loss.py:unproject`` of
VivianSZF/depthgan). It is handed on **normalised to [-1, 1]**, the range of the official real data
(``datasets/rgbd_dataset.py``: ``(v - 30000) / 30000`` of the 16-bit depth PNG, stacked as the 4th channel of
``data['image']``) and of the depth generator's output, so that ``real_depth`` and fakes share one scale:

* ``'depthgan'`` encoding (the official files): ``d = (v - DEPTHGAN_DEPTH_MEAN) / DEPTHGAN_DEPTH_STD``;
* ``'metric'`` encoding (gen3d's layout): metres ``z`` (16-bit PNG ``v / depth_scale`` or float ``.npy``) mapped
  linearly from ``depth_range = (near, far)`` to ``[-1, 1]``: ``d = 2 (z - near) / (far - near) - 1``.

Writing ``v = round(DEPTHGAN_DEPTH_STD * (d + 1))`` therefore stores the same normalised depth in the official
encoding (:func:`encode_depthgan_png`). A pipeline at the files' resolution::

    [dict(type="LoadGANImage"), dict(type="LoadRGBDDepth"), dict(type="PoseRandomFlip", prob=0.5),
     dict(type="PackRGBDInputs")]
"""

from collections.abc import Sequence

import cv2
import numpy as np

from gen3d.registry import TRANSFORMS

from .gan_transforms import GANResizeCrop
from .pose_transforms import DEPTH_PNG_MAX, PackPoseInputs, _read, read_depth

#: The official normalisation of the 16-bit depth PNG, ``(v - 30000) / 30000`` (``datasets/rgbd_dataset.py``).
DEPTHGAN_DEPTH_MEAN = DEPTHGAN_DEPTH_STD = 30000.0
DEPTH_ENCODINGS = ("depthgan", "metric")


def normalise_metric_depth(depth: np.ndarray, depth_range: Sequence[float]) -> np.ndarray:
    """Metres to ``[-1, 1]``: ``2 (z - near) / (far - near) - 1`` (values outside the range are not clipped).

    Args:
        depth: ``(H, W)`` planar depth in metres.
        depth_range: ``(near, far)`` metres, ``near < far``.

    Returns:
        ``(H, W)`` float32.
    """
    near, far = (float(v) for v in depth_range)
    if not far > near:
        raise ValueError(f"depth_range must be (near, far) with near < far, got {tuple(depth_range)}")
    return (2.0 * (np.asarray(depth, np.float32) - near) / (far - near) - 1.0).astype(np.float32)


def encode_depthgan_png(depth_norm: np.ndarray) -> np.ndarray:
    """Normalised depth ``[-1, 1]`` to the official 16-bit values ``round(30000 (d + 1))``.

    Args:
        depth_norm: ``(H, W)`` in ``[-1, 1]`` (a little beyond is fine while it fits 16 bits).

    Returns:
        ``(H, W)`` uint16.

    Raises:
        ValueError: A value that does not fit 16 bits.
    """
    values = np.round(DEPTHGAN_DEPTH_STD * (np.asarray(depth_norm, np.float64) + 1.0))
    if values.min(initial=0) < 0 or values.max(initial=0) > DEPTH_PNG_MAX:
        raise ValueError(f"normalised depth outside [-1, {DEPTH_PNG_MAX / DEPTHGAN_DEPTH_STD - 1:.4f}] does not fit "
                         "the official 16-bit encoding")
    return values.astype(np.uint16)


def read_depthgan_depth(path: str) -> np.ndarray:
    """Official depth PNG (16-bit grey; 8-bit or 3-channel files read like ``cv2.IMREAD_UNCHANGED`` + channel 0).

    Returns:
        ``(H, W)`` float32 ``(v - 30000) / 30000``.
    """
    raw = _read(path, cv2.IMREAD_UNCHANGED)
    if raw.ndim == 3:
        if raw.shape[2] != 1:
            raise ValueError(f"depth file {path} has {raw.shape[2]} channels, expected one (grey)")
        raw = raw[..., 0]
    if raw.dtype != np.uint16:
        raise ValueError(f"depth file {path} is {raw.dtype}; the official DepthGAN encoding is a 16-bit grey PNG "
                         f"normalised as (v - {DEPTHGAN_DEPTH_MEAN:g}) / {DEPTHGAN_DEPTH_STD:g}")
    return ((raw.astype(np.float32) - DEPTHGAN_DEPTH_MEAN) / DEPTHGAN_DEPTH_STD).astype(np.float32)


def read_rgbd_depth(path: str, encoding: str, depth_scale: float | None = None,
                    depth_range: Sequence[float] | None = None) -> np.ndarray:
    """Normalised depth ``(H, W)`` float32 of one file (module docstring); errors name the file.

    Args:
        path: ``.png`` or (metric only) ``.npy``.
        encoding: One of :data:`DEPTH_ENCODINGS`.
        depth_scale: Metric 16-bit PNG: units per metre.
        depth_range: Metric: ``(near, far)`` metres mapped to ``[-1, 1]``.
    """
    if encoding == "depthgan":
        return read_depthgan_depth(path)
    if encoding != "metric":
        raise ValueError(f"depth encoding must be one of {DEPTH_ENCODINGS}, got {encoding!r} ({path})")
    if depth_range is None:
        raise ValueError(f"metric depth file {path} needs depth_range=(near, far) to be normalised to [-1, 1]")
    return normalise_metric_depth(read_depth(path, depth_scale), depth_range)


@TRANSFORMS.register_module()
class LoadRGBDDepth:
    """Load ``results['depth_path']`` as normalised depth: adds ``depth`` ``(H, W)`` float32 in about ``[-1, 1]``.

    Reads ``depth_encoding``, ``depth_scale`` and ``depth_range`` of the record (set by
    :class:`~gen3d.datasets.rgbd.RGBDDataset`).

    Raises:
        KeyError: A record without ``depth_path`` (a dataset built with ``with_depth=False``), naming the key.
    """

    def __call__(self, results: dict) -> dict:
        """Load into ``results`` and return it."""
        path = results.get("depth_path")
        if not path:
            raise KeyError(f"LoadRGBDDepth needs the record key 'depth_path', which {results.get('img_path')} lacks: "
                           "build the dataset with with_depth=True (and a depth/ folder) or drop LoadRGBDDepth")
        results["depth"] = read_rgbd_depth(str(path), results.get("depth_encoding", "metric"),
                                           results.get("depth_scale"), results.get("depth_range"))
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


@TRANSFORMS.register_module()
class RGBDResizeCrop(GANResizeCrop):
    """:class:`GANResizeCrop` of the image and its ``depth`` together (shorter side to ``R``, centre crop).

    The official ``datasets/rgbd_dataset.py`` runs one ``crop_resize_image`` on the RGB and on the depth image alike;
    here the depth gets the same crop and, by default, the image's interpolation too (``depth_interpolation``
    overrides it: ``'nearest'`` keeps only depths that exist, no blends across occlusion edges).

    Args:
        resolution: Output side ``R``.
        keep_ratio: True: shorter side to ``R`` then centre crop; False: stretch to ``R x R``.
        down_interpolation: Interpolation when shrinking (``'area'``, ...).
        up_interpolation: Interpolation when enlarging (``'bicubic'``, ...).
        depth_interpolation: None (the image's) or one of the same names, for the depth.

    Raises:
        KeyError: A record without ``depth`` (put :class:`LoadRGBDDepth` before it).
    """

    def __init__(self, resolution: int, keep_ratio: bool = True, down_interpolation: str = "area",
                 up_interpolation: str = "bicubic", depth_interpolation: str | None = None) -> None:
        super().__init__(resolution, keep_ratio, down_interpolation, up_interpolation)
        self.depth_resize = None
        if depth_interpolation is not None:
            self.depth_resize = GANResizeCrop(resolution, keep_ratio, depth_interpolation, depth_interpolation)

    def __call__(self, results: dict) -> dict:
        """Resize ``img`` and ``depth`` in place and return ``results``."""
        if "depth" not in results:
            raise KeyError(f"RGBDResizeCrop found no 'depth' for {results.get('img_path')}: put LoadRGBDDepth before "
                           "it (or use GANResizeCrop for RGB alone)")
        if results["depth"].shape[:2] != results["img"].shape[:2]:
            raise ValueError(f"depth {results['depth'].shape[:2]} and image {results['img'].shape[:2]} of "
                             f"{results.get('img_path')} differ in size")
        depth = {"img": np.asarray(results["depth"], np.float32)}
        if self.depth_resize is not None:
            self.depth_resize(depth)
        else:
            super().__call__(depth)
        super().__call__(results)
        results["depth"] = depth["img"].astype(np.float32)
        return results

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", depth_interpolation={getattr(self.depth_resize, 'interp', (None,))[0]!r})"


@TRANSFORMS.register_module()
class PackRGBDInputs(PackPoseInputs):
    """:class:`PackPoseInputs` for RGBD: ``inputs`` uint8 ``[3, H, W]``, ``data_samples["depth"]`` ``[1, H, W]``.

    ``GANDataPreprocessor`` stacks the depth as ``real_depth`` ``(N, 1, H, W)`` (normalised, module docstring).

    Args:
        require_depth: Refuse a sample without ``depth`` (naming the key) instead of packing the image alone.
        meta_keys: As :class:`PackPoseInputs`.
    """

    def __init__(self, require_depth: bool = True,
                 meta_keys: Sequence[str] = PackPoseInputs.DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys)
        self.require_depth = bool(require_depth)

    def __call__(self, results: dict) -> dict:
        """Return the packed dict."""
        if self.require_depth and "depth" not in results:
            raise KeyError(f"PackRGBDInputs(require_depth=True) found no 'depth' for {results.get('img_path')}: put "
                           "LoadRGBDDepth before it, or set require_depth=False for RGB alone")
        return super().__call__(results)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(require_depth={self.require_depth}, meta_keys={self.meta_keys})"
