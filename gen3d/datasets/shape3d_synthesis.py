"""An offline 3D set with true depth, normals, masks and poses: shaded analytic objects, ray-cast in numpy.

The offline-data table of ``specs/gans.md`` section 10 lists the meshes that pyvista's wheel ships and trimesh's
primitives; neither package is a gen3d dependency (nor installed), so the objects here are unions of 1-3 analytic
primitives (sphere, ellipsoid, box, torus, capsule) with exact intersections: closed form for sphere, ellipsoid and
box, sphere tracing of the exact signed distance for torus and capsule. A few fixed classes (:data:`CLASSES`) draw
sizes, orientations, albedo colours and simple procedural textures (solid, stripes, checker) at random.

Cameras are those of :mod:`gen3d.models.rendering.cameras` (re-implemented in numpy here and tested against it):
poses drawn with the same modes and defaults, on a sphere of ``radius`` looking at the origin, pi-GAN's pixel grid
(:func:`gen3d.models.rendering.camera_ray_directions`). Objects fit in a ball of ``OBJECT_FILL * radius *
tan(fov / 2)`` around the origin. Shading: Lambert + ambient under a random directional light; the background is a
constant colour or a vertical gradient.

Written (the :class:`~gen3d.datasets.gan.PoseImageDataset` layout): ``images/``, ``depth/`` (ray distance ``t``, as
the renderer's ``sum w_i t_i``; 16-bit PNG or ``.npy``), ``normal/`` (unit, OpenGL camera space, ``+z`` towards the
camera), ``mask/``, ``poses.json`` (with ``classes`` and each image's ``label``). CLI::

    python -m gen3d.datasets.shape3d_synthesis OUT --num 200 --size 64
"""

import argparse
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .transforms.pose_transforms import DEPTH_PNG_MAX, encode_depth_png, encode_normal

# gen3d.models.rendering.cameras defaults (pi-GAN sample_camera_positions); equality tested
YAW_MEAN = PITCH_MEAN = math.pi * 0.5
YAW_STD, PITCH_STD = 0.3, 0.155
CAMERA_RADIUS = 1.0
PITCH_EPS = 1e-5
POSE_MODES = ("normal", "uniform", "sphere", "mean")
FOV = 12.0  # pi-GAN CelebA curriculum fov (degrees)
OBJECT_FILL = 0.8
AMBIENT = 0.3
TRACE_STEPS, TRACE_EPS = 64, 1e-5
CLASSES = ("snowman", "crate", "ring", "pill", "blob")
TEXTURES = ("solid", "stripes", "checker")
BACKGROUNDS = ("random", "grey", "white", "black")  # random: a constant colour or a vertical gradient per view
_FIXED_BACKGROUNDS = {"grey": 0.5, "white": 1.0, "black": 0.0}


class Primitive(NamedTuple):
    """One primitive in object units (the object fits in the unit ball).

    ``kind`` in sphere (``size=(R,)``), ellipsoid (semi-axes), box (half extents), torus (``(R, r)``, about local
    ``y``), capsule (``(half length, r)``, along local ``y``); ``rotation`` maps local to object axes.
    """

    kind: str
    centre: np.ndarray
    rotation: np.ndarray
    size: tuple
    albedo: np.ndarray
    texture: str = "solid"
    albedo2: np.ndarray = np.zeros(3)
    frequency: float = 4.0


class View(NamedTuple):
    """A render.

    ``image`` uint8 ``(H, W, 3)``; ``depth`` float32 ``(H, W)`` (ray distance, 0 off the object); ``normal`` float32
    ``(H, W, 3)`` (unit, camera space, 0 off the object); ``mask`` bool ``(H, W)``.
    """

    image: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    mask: np.ndarray


def sample_angles(rng: np.random.Generator, n: int, mode: str = "normal", yaw_mean: float = YAW_MEAN,
                  pitch_mean: float = PITCH_MEAN, yaw_std: float = YAW_STD,
                  pitch_std: float = PITCH_STD) -> tuple[np.ndarray, np.ndarray]:
    """Yaw and pitch ``(n,)`` each, drawn as :func:`gen3d.models.rendering.sample_camera_angles` (numpy RNG)."""
    if mode == "normal":
        yaw, pitch = rng.normal(yaw_mean, yaw_std, n), rng.normal(pitch_mean, pitch_std, n)
    elif mode == "uniform":
        yaw = yaw_mean + rng.uniform(-yaw_std, yaw_std, n)
        pitch = pitch_mean + rng.uniform(-pitch_std, pitch_std, n)
    elif mode == "sphere":
        yaw = yaw_mean + rng.uniform(-yaw_std, yaw_std, n)
        v = rng.uniform(-1, 1, n) * pitch_std / math.pi + pitch_mean / math.pi
        pitch = np.arccos(1 - 2 * np.clip(v, PITCH_EPS, 1 - PITCH_EPS))
    elif mode == "mean":
        yaw, pitch = np.full(n, yaw_mean), np.full(n, pitch_mean)
    else:
        raise ValueError(f"pose mode {mode!r} is not one of {POSE_MODES}")
    return yaw, np.clip(pitch, PITCH_EPS, math.pi - PITCH_EPS)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def cam2world(yaw: float, pitch: float, radius: float = CAMERA_RADIUS) -> np.ndarray:
    """``(4, 4)`` camera-to-world matrix of :func:`gen3d.models.rendering.pose_to_cam2world` for one camera."""
    origin = radius * np.array([math.sin(pitch) * math.cos(yaw), math.cos(pitch), math.sin(pitch) * math.sin(yaw)])
    forward = _unit(-origin)
    left = _unit(np.cross([0.0, 1.0, 0.0], forward))
    up = _unit(np.cross(forward, left))
    out = np.eye(4)
    out[:3, :3] = np.stack([-left, up, -forward], -1)
    out[:3, 3] = origin
    return out


def ray_directions(size: int, fov: float) -> np.ndarray:
    """Unit camera-space rays ``(size * size, 3)`` of :func:`gen3d.models.rendering.camera_ray_directions`."""
    y, x = np.meshgrid(np.linspace(1, -1, size), np.linspace(-1, 1, size), indexing="ij")
    d = np.stack([x, y, np.full_like(x, -1 / math.tan(math.radians(fov) / 2))], -1).reshape(-1, 3)
    return _unit(d)


def _quadric(o: np.ndarray, d: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive hit of an axis-aligned ellipsoid at the origin: ``t (N,)`` (inf: miss), normal ``(N, 3)``."""
    os_, ds = o / axes, d / axes
    a, b, c = (ds * ds).sum(-1), (os_ * ds).sum(-1), (os_ * os_).sum(-1) - 1
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0))
    t = np.where((-b - root) > 0, -b - root, -b + root) / a
    t = np.where((disc >= 0) & (t > 0), t, np.inf)
    return t, _unit((o + np.where(np.isfinite(t), t, 0)[:, None] * d) / axes**2)


def _box(o: np.ndarray, d: np.ndarray, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slab test of an axis-aligned box at the origin: ``t (N,)``, normal ``(N, 3)``."""
    inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1, t2 = (-half - o) * inv, (half - o) * inv
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = near.max(-1), far.min(-1)
    t = np.where((t_out >= t_in) & (t_in > 0), t_in, np.inf)
    axis = near.argmax(-1)
    n = np.zeros_like(o)
    n[np.arange(len(o)), axis] = -np.sign(d[np.arange(len(o)), axis])
    return t, n


def _sdf(kind: str, p: np.ndarray, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Exact signed distance and its gradient (the outward normal) of a torus or capsule at local points ``p``."""
    if kind == "torus":
        big, small = size
        rho = np.maximum(np.hypot(p[:, 0], p[:, 2]), 1e-12)
        q = np.stack([p[:, 0] * (1 - big / rho), p[:, 1], p[:, 2] * (1 - big / rho)], -1)
        return np.hypot(rho - big, p[:, 1]) - small, _unit(q)
    half, r = size
    axis_point = np.zeros_like(p)
    axis_point[:, 1] = np.clip(p[:, 1], -half, half)
    q = p - axis_point
    return np.linalg.norm(q, axis=-1) - r, _unit(q)


def _traced(o: np.ndarray, d: np.ndarray, kind: str, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Sphere tracing of a torus or capsule from its bounding sphere: ``t (N,)``, normal ``(N, 3)``."""
    bound = sum(size)
    t_in, _ = _quadric(o, d, np.full(3, bound))
    t_out = -(o * d).sum(-1) + np.sqrt(np.maximum((o * d).sum(-1) ** 2 - (o * o).sum(-1) + bound**2, 0))
    t = np.where(np.isfinite(t_in), t_in, 0.0)
    active = np.isfinite(t_in)
    for _ in range(TRACE_STEPS):
        dist, _ = _sdf(kind, o + t[:, None] * d, size)
        t = np.where(active, t + dist, t)
        active &= (dist > TRACE_EPS * bound) & (t < t_out)
    dist, normal = _sdf(kind, o + t[:, None] * d, size)
    hit = np.isfinite(t_in) & (np.abs(dist) < 10 * TRACE_EPS * bound) & (t < t_out)
    return np.where(hit, t, np.inf), normal


def intersect(prim: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest hit of rays with one primitive, in object units.

    Args:
        prim: The primitive.
        o: Ray origins ``(N, 3)``.
        d: Unit directions ``(N, 3)``.

    Returns:
        ``t (N,)`` (inf: miss), object-space normal ``(N, 3)``, local hit point ``(N, 3)``.
    """
    lo, ld = (o - prim.centre) @ prim.rotation, d @ prim.rotation
    if prim.kind in ("sphere", "ellipsoid"):
        t, n = _quadric(lo, ld, np.broadcast_to(np.asarray(prim.size, float), (3,)))
    elif prim.kind == "box":
        t, n = _box(lo, ld, np.asarray(prim.size, float))
    elif prim.kind in ("torus", "capsule"):
        t, n = _traced(lo, ld, prim.kind, prim.size)
    else:
        raise ValueError(f"unknown primitive {prim.kind!r}")
    return t, n @ prim.rotation.T, lo + np.where(np.isfinite(t), t, 0)[:, None] * ld


def _albedo(prim: Primitive, local: np.ndarray) -> np.ndarray:
    """Albedo ``(N, 3)`` of a primitive's procedural texture at local points."""
    if prim.texture == "solid":
        return np.broadcast_to(prim.albedo, local.shape)
    if prim.texture == "stripes":
        second = np.sin(prim.frequency * math.pi * local[:, 1]) > 0
    else:
        second = np.floor(prim.frequency * local).astype(int).sum(-1) % 2 == 1
    return np.where(second[:, None], prim.albedo2, prim.albedo)


def render_view(primitives: list[Primitive], yaw: float, pitch: float, radius: float = CAMERA_RADIUS,
                fov: float = FOV, size: int = 64, scale: float | None = None, light: np.ndarray | None = None,
                background: tuple[np.ndarray, np.ndarray] | None = None) -> View:
    """Ray-cast and shade an object from one camera.

    Args:
        primitives: The object, in object units.
        yaw: Camera yaw (radians).
        pitch: Camera pitch.
        radius: Camera distance from the origin (metres).
        fov: Full field of view, degrees.
        size: Image side ``S``.
        scale: Metres per object unit; None fits the unit ball to ``OBJECT_FILL`` of the view.
        light: Unit light direction in camera space (towards the light); None: from the upper left front.
        background: Top and bottom RGB colours in ``[0, 1]``; None: mid grey.

    Returns:
        :class:`View` of side ``S``.
    """
    scale = OBJECT_FILL * radius * math.tan(math.radians(fov) / 2) if scale is None else scale
    c2w = cam2world(yaw, pitch, radius)
    d_cam = ray_directions(size, fov)
    d = d_cam @ c2w[:3, :3].T
    o = np.broadcast_to(c2w[:3, 3] / scale, d.shape)
    best = np.full(len(d), np.inf)
    normal_w, albedo = np.zeros_like(d), np.zeros_like(d)
    for prim in primitives:
        t, n, local = intersect(prim, o, d)
        closer = t < best
        best = np.where(closer, t, best)
        normal_w[closer], albedo[closer] = n[closer], _albedo(prim, local[closer])
    mask = np.isfinite(best)
    normal = np.where(mask[:, None], normal_w @ c2w[:3, :3], 0.0)  # world -> camera: R^T n
    light = _unit(np.array([-0.4, 0.6, 0.7])) if light is None else _unit(np.asarray(light, float))
    shade = AMBIENT + (1 - AMBIENT) * np.clip(normal @ light, 0, None)
    top, bottom = background if background is not None else (np.full(3, 0.5), np.full(3, 0.5))
    rows = np.repeat(np.linspace(0, 1, size), size)[:, None]
    colour = np.where(mask[:, None], albedo * shade[:, None], (1 - rows) * top + rows * bottom)
    image = np.clip(np.round(colour * 255), 0, 255).astype(np.uint8).reshape(size, size, 3)
    depth = np.where(mask, best * scale, 0.0).astype(np.float32).reshape(size, size)
    return View(image, depth, normal.astype(np.float32).reshape(size, size, 3), mask.reshape(size, size))


def _rotation(rng: np.random.Generator, tilt: float = 0.4) -> np.ndarray:
    """A random rotation: a turn about ``y`` then a tilt of up to ``tilt`` radians about ``x``."""
    a, b = rng.uniform(0, 2 * math.pi), rng.uniform(-tilt, tilt)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return rx @ ry


def random_object(rng: np.random.Generator, label: int) -> list[Primitive]:
    """1-3 primitives of class ``CLASSES[label]`` inside the unit ball, with random sizes, colours and textures."""

    def prim(kind: str, centre: tuple, size: tuple, rotation: np.ndarray | None = None) -> Primitive:
        texture = TEXTURES[rng.integers(len(TEXTURES))]
        return Primitive(kind, np.asarray(centre, float), np.eye(3) if rotation is None else rotation, size,
                         rng.uniform(0.25, 1.0, 3), texture, rng.uniform(0.05, 1.0, 3), float(rng.uniform(2, 6)))

    name = CLASSES[label]
    if name == "snowman":
        r1, r2 = rng.uniform(0.35, 0.45), rng.uniform(0.22, 0.3)
        parts = [prim("sphere", (0, -0.55 + r1, 0), (r1,)), prim("sphere", (0, -0.55 + 2 * r1 + 0.8 * r2, 0), (r2,))]
        if rng.random() < 0.5:
            parts.append(prim("sphere", (0, -0.55 + 2 * r1 + 1.6 * r2 + 0.1, 0), (0.12,)))
        return parts
    if name == "crate":
        rot, half = _rotation(rng, 0.2), rng.uniform(0.3, 0.45, 3)
        parts = [prim("box", (0, 0, 0), tuple(half), rot)]
        if rng.random() < 0.5:
            parts.append(prim("box", rot @ np.array([0, half[1] + 0.12, 0]), (0.15, 0.12, 0.15), rot))
        return parts
    if name == "ring":
        big = rng.uniform(0.5, 0.65)
        parts = [prim("torus", (0, 0, 0), (big, rng.uniform(0.12, 0.25)), _rotation(rng, 1.2))]
        if rng.random() < 0.5:
            parts.append(prim("sphere", (0, 0, 0), (rng.uniform(0.15, 0.3),)))
        return parts
    if name == "pill":
        parts = [prim("capsule", (0, 0, 0), (rng.uniform(0.3, 0.5), rng.uniform(0.18, 0.3)), _rotation(rng, 1.5))]
        if rng.random() < 0.5:
            parts.append(prim("capsule", (0, 0, 0), (rng.uniform(0.3, 0.5), 0.15), _rotation(rng, 1.5)))
        return parts
    axes = tuple(rng.uniform([0.35, 0.25, 0.25], [0.6, 0.45, 0.45]))
    parts = [prim("ellipsoid", (0, 0, 0), axes, _rotation(rng, 0.5))]
    for _ in range(rng.integers(0, 3)):
        direction = _unit(rng.normal(size=3))
        parts.append(prim("sphere", tuple(direction * 0.45), (rng.uniform(0.15, 0.3),)))
    return parts


def sample_view(seed: int, index: int, size: int = 64, pose_mode: str = "normal", yaw_mean: float = YAW_MEAN,
                pitch_mean: float = PITCH_MEAN, yaw_std: float = YAW_STD, pitch_std: float = PITCH_STD,
                radius: float = CAMERA_RADIUS, fov: float = FOV, background: str = "random",
                classes: tuple[int, ...] | None = None) -> tuple[View, dict]:
    """View ``index`` of the set of ``seed``: a random object of class ``CLASSES[labels[index % len(labels)]]``.

    Arguments as :func:`build_shape3d_dataset`. The random draws do not depend on ``background``: a fixed background
    gives the same objects, poses and lights as ``'random'``.

    Returns:
        The :class:`View` and its ``poses.json`` entry ``dict(yaw, pitch, radius, fov, label)``.
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    labels = tuple(range(len(CLASSES))) if classes is None else tuple(classes)
    if not labels or any(not 0 <= c < len(CLASSES) for c in labels):
        raise ValueError(f"classes must be indices into {CLASSES}, got {classes!r}")
    rng = np.random.default_rng([seed, index])
    label = labels[index % len(labels)]
    yaw, pitch = (float(a[0]) for a in sample_angles(rng, 1, pose_mode, yaw_mean, pitch_mean, yaw_std, pitch_std))
    light = np.array([rng.uniform(-1, 1), rng.uniform(0, 1), rng.uniform(0.3, 1)])
    top = rng.uniform(0, 1, 3)
    colours = (top, top if rng.random() < 0.5 else rng.uniform(0, 1, 3))
    if background != "random":
        colours = (np.full(3, _FIXED_BACKGROUNDS[background]),) * 2
    view = render_view(random_object(rng, label), yaw, pitch, radius, fov, size, light=light, background=colours)
    return view, dict(yaw=yaw, pitch=pitch, radius=float(radius), fov=float(fov), label=label)


def build_shape3d_dataset(root: str | Path, num: int = 200, size: int = 64, seed: int = 0,
                          pose_mode: str = "normal", yaw_mean: float = YAW_MEAN, pitch_mean: float = PITCH_MEAN,
                          yaw_std: float = YAW_STD, pitch_std: float = PITCH_STD, radius: float = CAMERA_RADIUS,
                          fov: float = FOV, depth_format: str = "png", background: str = "random",
                          classes: tuple[int, ...] | None = None) -> Path:
    """Write ``num`` views of random objects in the posed-image layout (module docstring).

    View ``i`` depends on ``(seed, i)`` only (:func:`sample_view`); its class is ``CLASSES[labels[i % len(labels)]]``
    with ``labels = classes`` (default all, in order).

    Args:
        root: Output folder (created; files of the same names overwritten).
        num: Number of images.
        size: Image side.
        seed: Seed.
        pose_mode: Pose distribution (one of :data:`POSE_MODES`), with the next four arguments.
        yaw_mean: Yaw mean or centre (radians).
        pitch_mean: Pitch mean or centre.
        yaw_std: Yaw std or half range.
        pitch_std: Pitch std or half range.
        radius: Camera distance (metres).
        fov: Full field of view (degrees).
        depth_format: ``'png'`` (16-bit, ``depth_scale`` in ``poses.json``) or ``'npy'`` (float32).
        background: One of :data:`BACKGROUNDS`: ``'random'`` (a colour or gradient per view) or a fixed colour.
        classes: Indices into :data:`CLASSES` to draw from (None: all).

    Returns:
        ``root`` as a Path.
    """
    if depth_format not in ("png", "npy"):
        raise ValueError(f"depth_format must be 'png' or 'npy', got {depth_format!r}")
    root = Path(root)
    for sub in ("images", "depth", "normal", "mask"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    depth_scale = float(DEPTH_PNG_MAX // (2 * radius))  # depths stay below the 2 * radius it can hold
    poses = {}
    for i in range(int(num)):
        stem = f"shape_{i:05d}"
        view, poses[stem] = sample_view(seed, i, size, pose_mode, yaw_mean, pitch_mean, yaw_std, pitch_std, radius,
                                        fov, background, classes)
        cv2.imwrite(str(root / "images" / f"{stem}.png"), cv2.cvtColor(view.image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "normal" / f"{stem}.png"), cv2.cvtColor(encode_normal(view.normal), cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "mask" / f"{stem}.png"), view.mask.astype(np.uint8) * 255)
        if depth_format == "png":
            cv2.imwrite(str(root / "depth" / f"{stem}.png"), encode_depth_png(view.depth, depth_scale))
        else:
            np.save(root / "depth" / f"{stem}.npy", view.depth)
    meta = dict(version=1, classes=list(CLASSES), poses=poses,
                source=f"gen3d.datasets.shape3d_synthesis seed={seed} size={size} pose_mode={pose_mode} "
                       f"background={background} classes={list(classes) if classes is not None else 'all'}")
    if depth_format == "png":
        meta["depth_scale"] = depth_scale
    (root / "poses.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m gen3d.datasets.shape3d_synthesis OUT [--num N] [--size S] [--seed K] [--background B]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fov", type=float, default=FOV)
    parser.add_argument("--pose-mode", choices=POSE_MODES, default="normal")
    parser.add_argument("--depth-format", choices=("png", "npy"), default="png")
    parser.add_argument("--background", choices=BACKGROUNDS, default="random")
    parser.add_argument("--classes", nargs="+", choices=CLASSES, help="draw from these classes only (default all)")
    args = parser.parse_args(argv)
    classes = tuple(CLASSES.index(c) for c in args.classes) if args.classes else None
    start = time.perf_counter()
    build_shape3d_dataset(args.out, args.num, args.size, args.seed, args.pose_mode, fov=args.fov,
                          depth_format=args.depth_format, background=args.background, classes=classes)
    elapsed = time.perf_counter() - start
    print(f"wrote {args.num} views of {args.size} px to {args.out} ({args.num / elapsed:.1f} images/s)")


if __name__ == "__main__":
    main()
