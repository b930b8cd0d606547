"""Run a generator bundle (``task='generation'``, :mod:`gen3d.deploy.gan_bundle`) with numpy and OpenCV only.

Example::

    from gen3d.runtime.generation import GeneratorRuntime, write_grid

    gen = GeneratorRuntime("bundles/gan")
    images = gen.sample(range(16), truncation_psi=0.7)      # uint8 [16, R, R, C]
    write_grid("grid.png", images)

Seeds: seed ``s`` gives :func:`seed_latents` (``numpy.random.default_rng(s).standard_normal(z_dim)``) and, for a
3D-aware generator, :func:`seed_poses` (``default_rng((s, 1))``). The PyTorch side
(:mod:`gen3d.models.gans.sampling`, ``tools/gan/generate.py``, the sample hooks) draws through these same functions,
so a checkpoint and its bundle give the same image for the same seed.
"""

from __future__ import annotations

import math
import os
import os.path as osp
import re
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np

from gen3d.runtime.backend import make_backend
from gen3d.runtime.colormaps import geometry_panels
from gen3d.runtime.manifest import ManifestError, load_manifest

#: Output names a generator bundle may have, in order: the fields of ``gen3d.models.gans.generator_output
#: .GeneratorOutput`` that are maps (kept equal to its ``MAP_FIELDS`` by a test; this module must not import torch).
GENERATOR_OUTPUTS = ("image", "depth", "normal", "mask")


def seed_latents(seeds: Iterable[int], z_dim: int) -> np.ndarray:
    """One standard-normal latent per seed, ``numpy.random.default_rng(seed)``: float32 ``[len(seeds), z_dim]``.

    The latents of every seeded sample in gen3d, PyTorch or bundle (see the module docstring).
    """
    rows = [np.random.default_rng(int(s)).standard_normal(int(z_dim)) for s in seeds]
    return np.asarray(rows, np.float32).reshape(len(rows), int(z_dim))


def parse_seeds(text: str) -> list[int]:
    """``'0-15'``, ``'1,5,9'`` or ``'0-3,10'`` -> a list of seeds (ranges inclusive).

    Raises:
        ValueError: Not such a list.
    """
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"bad seed list {text!r}: expected e.g. '0-15' or '1,5,9'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"bad seed range {part!r}")
        seeds.extend(range(lo, hi + 1))
    if not seeds:
        raise ValueError(f"no seeds in {text!r}")
    return seeds


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile uint8 NHWC images into one ``(rows*H, nrow*W, C)`` uint8 array (empty cells black).

    Args:
        images: uint8 ``[N, H, W, C]``.
        nrow: Images per row; None is ``ceil(sqrt(N))``.
        pad: Pixels between cells.
    """
    arr = np.asarray(images)
    n, h, w, ch = arr.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = np.zeros((rows * (h + pad) - pad, nrow * (w + pad) - pad, ch), np.uint8)
    for k in range(n):
        y, x = (k // nrow) * (h + pad), (k % nrow) * (w + pad)
        grid[y:y + h, x:x + w] = arr[k]
    return grid


def write_grid(path: str, images: np.ndarray, nrow: int | None = None, pad: int = 0) -> str:
    """Write uint8 NHWC RGB (or grey) images as one grid picture with OpenCV; returns ``path``.

    Raises:
        OSError: The file could not be written.
    """
    grid = make_grid(images, nrow, pad)
    if grid.shape[2] == 3:
        grid = cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, grid):
        raise OSError(f"Could not write image {path}")
    return path


#: Pose distribution modes a manifest may name (``gen3d.models.rendering.cameras.POSE_MODES``).
POSE_MODES = ("normal", "uniform", "sphere", "mean")
POSE_ORDER = ("pitch", "yaw")
PITCH_EPS = 1e-5


def pose_order(dist: dict) -> list[str]:
    """The pose columns of a manifest's pose distribution: its ``order`` (``['pitch', 'yaw']`` when absent).

    Raises:
        ValueError: An angle other than pitch and yaw, or none.
    """
    order = [str(a) for a in dist.get("order") or POSE_ORDER]
    if not order or set(order) - set(POSE_ORDER):
        raise ValueError(f"pose order {order} must list angles of {list(POSE_ORDER)}")
    return order


def sample_poses(dist: dict, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Camera poses from a manifest's pose distribution, drawn with numpy, columns in its ``order``.

    The modes are those of ``gen3d.models.rendering.sample_camera_angles``: the same distribution, not the same numbers.
    Yaw and pitch are drawn whatever the order (a yaw-only pose draws the yaws a ``(pitch, yaw)`` one would).

    Args:
        dist: ``{'mode', 'yaw_mean', 'pitch_mean', 'yaw_std', 'pitch_std', 'order', ...}`` (radians).
        n: Poses.
        rng: numpy generator; None draws the means (``mode='mean'``).

    Returns:
        float32 ``[n, len(order)]``: ``(pitch, yaw)`` (pi-GAN), ``(yaw,)`` (DepthGAN, ``order=['yaw']``).
    """
    order = pose_order(dist)
    mode = dist.get("mode", "normal") if rng is not None else "mean"
    ym, pm, ys, ps = (float(dist[k]) for k in ("yaw_mean", "pitch_mean", "yaw_std", "pitch_std"))
    if mode == "normal":
        yaw, pitch = rng.standard_normal(n) * ys + ym, rng.standard_normal(n) * ps + pm
    elif mode in ("uniform", "sphere"):
        yaw, u = (rng.random(n) - 0.5) * 2 * ys + ym, rng.random(n)
        if mode == "uniform":
            pitch = (u - 0.5) * 2 * ps + pm
        else:
            v = (u - 0.5) * 2 * (ps / math.pi) + pm / math.pi
            pitch = np.arccos(1 - 2 * np.clip(v, PITCH_EPS, 1 - PITCH_EPS))
    elif mode == "mean":
        yaw, pitch = np.full(n, ym), np.full(n, pm)
    else:
        raise ValueError(f"pose mode {mode!r} is not one of {POSE_MODES}")
    angles = {"pitch": np.clip(pitch, PITCH_EPS, math.pi - PITCH_EPS), "yaw": yaw}
    return np.stack([angles[a] for a in order], 1).astype(np.float32)


def seed_poses(seeds: Iterable[int], dist: dict) -> np.ndarray:
    """One pose per seed, ``numpy.random.default_rng((seed, 1))`` (a stream apart from the latent's): ``[N, P]``."""
    rows = [sample_poses(dist, 1, np.random.default_rng((int(s), 1))) for s in seeds]
    return np.concatenate(rows) if rows else np.zeros((0, len(pose_order(dist))), np.float32)


class GeneratorRuntime:
    """A generator bundle: latents (and a class) in, uint8 NHWC images out.

    Args:
        bundle_dir: Bundle folder (``manifest.json`` with ``task='generation'``, ``model.onnx``).
        backend: ``'auto'`` or ``'onnxruntime'`` (generator bundles carry no TensorRT engine).
        threads: onnxruntime CPU threads.
        batch_size: Latents per backend call (a static-batch graph uses its own batch, padding the last call).
        verify_hashes: Verify the bundle whole (:func:`~gen3d.runtime.manifest.load_manifest`); ``False`` loads
            a modified one with a warning.

    Raises:
        ManifestError: Not a generation bundle, or an invalid one.
        RuntimeError: The backend cannot run here.
    """

    def __init__(self, bundle_dir: str, backend: str = "auto", threads: int | None = None, batch_size: int = 8,
                 verify_hashes: bool = True) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = load_manifest(bundle_dir, verify_hashes)
        if self.manifest["task"] != "generation":
            raise ManifestError(f"{bundle_dir} holds a {self.manifest['task']} model, not a generator")
        model = self.manifest["model"]
        inputs = {i["name"]: i for i in self.manifest["inputs"]}
        #: ``(name, width)`` of the latent inputs, in the order they make up ``z`` (DepthGAN: z_depth, z_rgb).
        self.latents = [(str(e["name"]), int(e["dim"])) for e in model.get("latents") or []]
        if not self.latents and "z" in inputs:
            self.latents = [("z", int(model.get("z_dim") or inputs["z"]["shape"][-1]))]
        if not self.latents or any(name not in inputs for name, _ in self.latents):
            raise ManifestError(f"{bundle_dir}: a generation bundle needs a 'z' input (or the model.latents inputs)")
        self.z_dim = sum(width for _, width in self.latents)
        self.c_dim = int(model.get("c_dim") or (inputs["c"]["shape"][-1] if "c" in inputs else 0))
        self.classes: list[str] = list(model.get("classes") or (inputs.get("c") or {}).get("classes") or [])
        self.default_psi = float(((inputs.get("truncation_psi") or {}).get("default") or [1.0])[0])
        outs = {o["name"]: o for o in self.manifest["outputs"]}
        unknown = sorted(set(outs) - set(GENERATOR_OUTPUTS))
        if "image" not in outs or unknown:
            raise ManifestError(f"{bundle_dir}: a generation bundle outputs 'image' and optionally "
                                f"{GENERATOR_OUTPUTS[1:]}, got {sorted(outs)}")
        out = outs["image"]
        self.output_name = out["name"]
        self.output_names = [n for n in GENERATOR_OUTPUTS if n in outs]
        #: The pose input: ``'pose'``, a one-angle pose's angle (DepthGAN: ``'yaw'``), or None (2D).
        self.pose_input = next((n for n, e in inputs.items() if n == "pose" or "distribution" in e), None)
        pose = inputs.get(self.pose_input) or {}
        self.pose_dim = int(model.get("pose_dim") or (pose["shape"][-1] if pose else 0))
        #: The camera model of a 3D-aware bundle (mode, means, stds, radius, fov), or None (poses must be given).
        self.pose_distribution: dict | None = pose.get("distribution")
        self.raw = out.get("dtype") != "uint8" or self.manifest.get("output") == "float"
        self.layout = out.get("layout", "NCHW" if self.raw else "NHWC")
        self.backend = make_backend(backend, bundle_dir, self.manifest, threads)
        first = (self.backend.input_shapes.get(self.latents[0][0]) or (None,))[0]
        self.static_batch = int(first) if first else None
        self.batch_size = self.static_batch or max(1, int(batch_size))

    @property
    def backend_name(self) -> str:
        """``'onnxruntime'`` or ``'tensorrt'``."""
        return self.backend.name

    @property
    def resolution(self) -> int:
        """Image side in pixels."""
        out = next(o for o in self.manifest["outputs"] if o["name"] == "image")
        return int(self.manifest["model"].get("resolution") or out["shape"][1])

    def resolve_class(self, class_index: int | str | None) -> int | None:
        """A class index (or a name from ``classes``) checked against the generator; None for unconditional.

        Raises:
            ValueError: A conditional generator without a class, an unconditional one with a class, or an unknown
                class.
        """
        if self.c_dim == 0:
            if class_index is not None:
                raise ValueError("the generator is unconditional (c_dim 0): drop the class index")
            return None
        if isinstance(class_index, str) and not class_index.lstrip("-").isdigit():
            if class_index not in self.classes:
                raise ValueError(f"unknown class {class_index!r}; known: {self.classes}")
            return self.classes.index(class_index)
        if class_index is None or not 0 <= int(class_index) < self.c_dim:
            raise ValueError(f"a conditional generator needs a class index in [0, {self.c_dim}), got {class_index}"
                             + (f" (classes: {self.classes})" if self.classes else ""))
        return int(class_index)

    def generate(self, z: np.ndarray, truncation_psi: float | None = None,
                 class_index: int | str | None = None, c: np.ndarray | None = None,
                 pose: np.ndarray | None = None) -> np.ndarray:
        """Images for explicit latents (e.g. the ``z`` PyTorch drew, for identical images).

        Args:
            z: float ``[N, z_dim]``.
            truncation_psi: None is the bundle's stored default.
            class_index: Class of every image (conditional generators); or pass ``c``.
            c: One-hot labels ``[N, c_dim]`` (overrides ``class_index``).
            pose: Camera poses ``[N, pose_dim]`` of a 3D-aware generator, radians, in the distribution's ``order``
                ((pitch, yaw) for pi-GAN, (yaw,) for DepthGAN); None is the mean pose of the manifest's
                ``pose_distribution`` (required without one).

        Returns:
            uint8 ``[N, H, W, C]`` RGB (grey: C = 1). Raw (float) bundles are converted as the PyTorch side does,
            ``clip(x * 127.5 + 128, 0, 255)`` truncated to uint8. :meth:`generate_maps` returns every map.
        """
        return self.generate_maps(z, truncation_psi, class_index, c, pose)["image"]

    def generate_maps(self, z: np.ndarray, truncation_psi: float | None = None,
                      class_index: int | str | None = None, c: np.ndarray | None = None,
                      pose: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every map the bundle outputs, by name (arguments as :meth:`generate`).

        Returns:
            ``{'image': uint8 [N, H, W, C], 'depth': float32 [N, H, W, 1], 'normal': [N, H, W, 3],
            'mask': [N, H, W, 1]}``, the maps present in :attr:`output_names` (all NHWC).
        """
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [N, {self.z_dim}], got {list(z.shape)}")
        n = len(z)
        if c is None and self.c_dim:
            c = np.zeros((n, self.c_dim), np.float32)
            c[:, self.resolve_class(class_index)] = 1
        elif c is None:
            self.resolve_class(class_index)
        elif not self.c_dim:
            raise ValueError("the generator is unconditional (c_dim 0): drop c")
        if pose is None and self.pose_dim and self.pose_distribution:
            pose = sample_poses(self.pose_distribution, n)
        if (pose is None) != (self.pose_dim == 0):
            raise ValueError(f"pose must be [N, {self.pose_dim}]" if self.pose_dim else "a 2D generator: drop pose")
        if pose is not None and np.shape(pose) != (n, self.pose_dim):
            raise ValueError(f"pose must be [{n}, {self.pose_dim}], got {list(np.shape(pose))}")
        psi = np.array([self.default_psi if truncation_psi is None else truncation_psi], np.float32)
        out: dict[str, list[np.ndarray]] = {name: [] for name in self.output_names}
        for i in range(0, n, self.batch_size):
            feeds: dict[str, np.ndarray] = {}
            start, zi = 0, z[i:i + self.batch_size]
            for name, width in self.latents:  # z = [z_depth, z_rgb] for DepthGAN
                feeds[name], start = np.ascontiguousarray(zi[:, start:start + width]), start + width
            if c is not None:
                feeds["c"] = np.asarray(c[i:i + self.batch_size], np.float32)
            if pose is not None:
                feeds[self.pose_input] = np.asarray(pose[i:i + self.batch_size], np.float32)
            k = len(zi)
            if self.static_batch and k < self.static_batch:  # pad the last call of a fixed-batch graph
                for name, v in feeds.items():
                    feeds[name] = np.concatenate([v, np.repeat(v[-1:], self.static_batch - k, 0)])
            feeds["truncation_psi"] = psi
            res = self.backend.run(feeds)
            out[self.output_name].append(self._to_uint8(res[self.output_name][:k]))
            for name in self.output_names[1:]:
                out[name].append(np.asarray(res[name][:k], np.float32).transpose(0, 2, 3, 1))
        if not n:
            return {"image": np.zeros((0, self.resolution, self.resolution, 3), np.uint8)}
        return {name: np.concatenate(parts) for name, parts in out.items()}

    def sample(self, seeds: Iterable[int], truncation_psi: float | None = None,
               class_index: int | str | None = None, pose: np.ndarray | None = None) -> np.ndarray:
        """Images for seeds: uint8 ``[N, H, W, C]``.

        Latents come from :func:`seed_latents` (as on the PyTorch side); poses are given, or drawn per seed from the
        manifest's ``pose_distribution`` with :func:`seed_poses`.
        """
        return self.sample_maps(seeds, truncation_psi, class_index, pose)["image"]

    def sample_maps(self, seeds: Iterable[int], truncation_psi: float | None = None,
                    class_index: int | str | None = None, pose: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every map for seeds (see :meth:`sample` and :meth:`generate_maps`)."""
        seeds = list(seeds)
        if pose is None and self.pose_dim and self.pose_distribution:
            pose = seed_poses(seeds, self.pose_distribution)
        return self.generate_maps(seed_latents(seeds, self.z_dim), truncation_psi, class_index, pose=pose)

    def _to_uint8(self, img: np.ndarray) -> np.ndarray:
        if not self.raw:
            return img if self.layout == "NHWC" else img.transpose(0, 2, 3, 1)
        img = np.clip(img.astype(np.float32) * 127.5 + 128, 0, 255).astype(np.uint8)
        return img.transpose(0, 2, 3, 1) if self.layout == "NCHW" else img


def run_generation(bundle_dir: str, out_dir: str, seeds: Sequence[int], truncation_psi: float | None = None,
                   class_index: int | str | None = None, backend: str = "auto", threads: int | None = None,
                   batch_size: int = 8, nrow: int | None = None, save_images: bool = False,
                   verify_hashes: bool = True) -> dict[str, Any]:
    """Sample ``seeds`` and write ``out_dir/grid.png`` (and ``seed0000.png``... with ``save_images``).

    A 3D-aware bundle also writes ``geometry.png``, one row per seed: RGB, depth (near bright) and normals.

    ``verify_hashes=False`` (``--allow-modified-bundle``) runs a bundle that fails verification, with a warning.

    Returns:
        ``{'grid': path, 'geometry': path or None, 'images': [paths], 'backend': name, 'shape': [N, H, W, C],
        'maps': [names]}``.
    """
    runtime = GeneratorRuntime(bundle_dir, backend=backend, threads=threads, batch_size=batch_size,
                               verify_hashes=verify_hashes)
    maps = runtime.sample_maps(seeds, truncation_psi, class_index)
    images = maps["image"]
    os.makedirs(out_dir, exist_ok=True)
    grid = write_grid(osp.join(out_dir, "grid.png"), images, nrow)
    geometry = None
    if "depth" in maps or "normal" in maps:  # 3D-aware bundle: RGB | depth | normal per seed
        geometry = write_grid(osp.join(out_dir, "geometry.png"), geometry_panels(maps), 1 if nrow is None else nrow)
    paths = []
    if save_images:
        for s, img in zip(seeds, images):
            paths.append(write_grid(osp.join(out_dir, f"seed{int(s):04d}.png"), img[None], 1))
    return {"grid": grid, "geometry": geometry, "images": paths, "backend": runtime.backend_name,
            "shape": list(images.shape), "maps": sorted(maps)}
