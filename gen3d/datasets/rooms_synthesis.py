"""An offline set of indoor rooms with true planar depth, for DepthGAN (arXiv 2202.08553) at CPU scale.

DepthGAN trains on LSUN bedroom / kitchen with LeReS depth (``specs/gans.md`` section 3); neither ships with an
installed package (section 10), so this module ray-casts procedural rooms in numpy, in the spirit of
:mod:`gen3d.datasets.shape3d_synthesis`: a box room (floor, back, side and front walls, an optional ceiling), 1-4
axis-aligned boxes as furniture standing on the floor (bed, wardrobe, nightstand, table), one or two point lights
below the ceiling with Lambert shading, box shadows and an ambient term, and simple textures (floor planks or tiles,
striped or plain walls, a picture on the back wall).

Camera: a pinhole inside the room, at eye height, looking at the back wall (world ``-z``) turned by a yaw about
world ``+y`` drawn from DepthGAN's ``U(-pi/12, pi/12)`` (``runner.a_dis`` of VivianSZF/depthgan). Pixel ``(x, y)``
looks along camera-space ``((x - S/2) / f, -(y - S/2) / f, -1)`` (OpenGL axes: ``x`` right, ``y`` up, looking down
``-z``): the intrinsics ``K = [[f, 0, S/2], [0, f, S/2], [0, 0, 1]]`` of DepthGAN's warp
(``runners/losses/depthgan_loss.py:change_a``, ``f = 260`` at 256 px, so :data:`FOV` is its field of view).
Depth is **planar z** (distance along the optical axis), what that warp unprojects; every pixel hits a surface
(without a ceiling the open top reads :data:`DEPTH_FAR`).

Written (the metric layout of :class:`~gen3d.datasets.rgbd.RGBDDataset`): ``rgb/<stem>.png``, ``depth/<stem>.png``
(16-bit, metres ``= v / depth_scale``) or ``.npy``, ``rgbd.json`` (``depth_scale``, ``depth_range = [0,
DEPTH_FAR]``, ``fov``, each view's ``yaw``); ``layout='depthgan'`` writes the official encoding instead (no json).
View ``i`` depends on ``(seed, i)`` only. CLI::

    python -m gen3d.datasets.rooms_synthesis OUT --num 200 --size 64
"""

import argparse
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from .transforms.pose_transforms import DEPTH_PNG_MAX, encode_depth_png
from .transforms.rgbd_transforms import encode_depthgan_png, normalise_metric_depth

YAW_RANGE = math.pi / 12  # DepthGAN: yaw ~ U(-pi/12, pi/12)
DEPTHGAN_FOCAL, DEPTHGAN_SIZE = 260.0, 256  # K of depthgan_loss.py change_a, at the 256 px scripts
FOV = math.degrees(2 * math.atan(DEPTHGAN_SIZE / 2 / DEPTHGAN_FOCAL))  # about 52.4 degrees
DEPTH_FAR = 8.0  # metres; above the farthest room point from any camera (checked when rendering)
AMBIENT = 0.25
GAMMA = 1 / 2.2
EPS = 1e-4
CEILING_MODES = ("random", "always", "never")
LAYOUTS = ("metric", "depthgan")
# furniture kinds: (width x, height y, depth z) ranges in metres, and whether it stands against the back wall
FURNITURE = {
    "bed": ((1.4, 2.0), (0.45, 0.65), (1.9, 2.2), True),
    "wardrobe": ((0.9, 1.6), (1.8, 2.2), (0.5, 0.65), True),
    "nightstand": ((0.4, 0.55), (0.45, 0.6), (0.35, 0.45), True),
    "table": ((0.8, 1.4), (0.7, 0.8), (0.6, 0.9), False),
}
# surface ids of RoomView.surface
OPEN, FLOOR, CEILING, BACK, LEFT, RIGHT, FRONT, FIRST_BOX = -1, 0, 1, 2, 3, 4, 5, 6


class Box(NamedTuple):
    """An axis-aligned box: corners ``lo``, ``hi`` ``(3,)`` metres; ``albedo`` of its sides, ``top`` of its top."""

    lo: np.ndarray
    hi: np.ndarray
    albedo: np.ndarray
    top: np.ndarray


class Room(NamedTuple):
    """A room ``x in [-width/2, width/2]``, ``y in [0, height]``, ``z in [-back, front]`` (metres), its contents.

    ``floor``/``wall`` are ``(texture, albedo, albedo2)``; ``picture`` ``(x0, x1, y0, y1, albedo)`` on the back wall
    or None; ``lights`` ``(L, 3)`` positions and ``power`` ``(L,)``.
    """

    width: float
    height: float
    back: float
    front: float
    ceiling: bool
    floor: tuple
    wall: tuple
    picture: tuple | None
    boxes: list[Box]
    lights: np.ndarray
    power: np.ndarray


class RoomView(NamedTuple):
    """A render of a room.

    ``image`` uint8 ``(S, S, 3)``; ``depth`` float32 ``(S, S)`` planar z (metres, > 0); ``surface`` int16 ``(S, S)``
    (the ids above: :data:`FLOOR` ... :data:`FRONT`, ``FIRST_BOX + k``, :data:`OPEN`).
    """

    image: np.ndarray
    depth: np.ndarray
    surface: np.ndarray


def yaw_matrix(yaw: float) -> np.ndarray:
    """``(3, 3)`` rotation about world ``+y`` by ``yaw`` (camera to world; yaw 0 looks down ``-z``)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def camera_rays(size: int, fov: float = FOV) -> np.ndarray:
    """Camera-space directions ``(S * S, 3)`` with ``z = -1`` (so a hit's ``t`` is its planar depth), rows first."""
    focal = size / 2 / math.tan(math.radians(fov) / 2)
    y, x = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float), indexing="ij")
    return np.stack([(x - size / 2) / focal, -(y - size / 2) / focal, -np.ones_like(x)], -1).reshape(-1, 3)


def _inside_exit(o: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exit of rays starting inside a box: ``t (N,)`` and the face ``(N,)`` as ``2 * axis + (d > 0)``."""
    safe = np.where(np.abs(d) < 1e-12, 1e-12, d)
    t_axes = np.where(safe > 0, (hi - o) / safe, (lo - o) / safe)
    axis = t_axes.argmin(-1)
    return t_axes.min(-1), 2 * axis + (safe[np.arange(len(d)), axis] > 0)


def _box_hit(o: np.ndarray, d: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Slab test from outside: ``t (N,)`` (inf: miss) and the entry axis ``(N,)``."""
    inv = 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)
    t1, t2 = (box.lo - o) * inv, (box.hi - o) * inv
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = near.max(-1), far.min(-1)
    return np.where((t_out >= t_in) & (t_in > EPS), t_in, np.inf), near.argmax(-1)


def _noise(idx: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random value in ``[0, 1)`` per integer (plank shades)."""
    return np.modf(np.abs(np.sin(idx * 12.9898 + 78.233) * 43758.5453))[0]


def _pattern(texture: tuple, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Albedo ``(N, 3)`` of a ``(texture, albedo, albedo2)`` at surface coordinates ``a``, ``b`` (metres)."""
    kind, c1, c2 = texture
    if kind == "planks":
        shade = 0.8 + 0.35 * _noise(np.floor(a / 0.18) * 7 + np.floor(b / 1.2 + 0.5 * (np.floor(a / 0.18) % 2)))
        return c1 * shade[:, None]
    if kind == "tiles":
        return np.where(((np.floor(a / 0.5) + np.floor(b / 0.5)) % 2 == 1)[:, None], c2, c1)
    if kind == "stripes":
        return np.where((np.floor(a / 0.15) % 2 == 1)[:, None], c2, c1)
    return np.broadcast_to(c1, (len(a), 3))


def render_room(room: Room, camera: np.ndarray, yaw: float, size: int = 64, fov: float = FOV) -> RoomView:
    """Ray-cast and shade a room from a camera inside it (module docstring).

    Args:
        room: The room.
        camera: Camera centre ``(3,)`` metres, inside the room and outside every box.
        yaw: Rotation about ``+y`` (radians; 0 looks at the back wall).
        size: Image side ``S``.
        fov: Full field of view, degrees.

    Returns:
        :class:`RoomView` of side ``S``.
    """
    camera = np.asarray(camera, float)
    d = camera_rays(size, fov) @ yaw_matrix(yaw).T
    o = np.broadcast_to(camera, d.shape)
    lo = np.array([-room.width / 2, 0.0, -room.back])
    hi = np.array([room.width / 2, room.height, room.front])
    t, face = _inside_exit(o, d, lo, hi)
    # face 2*axis + (d > 0): x- left, x+ right, y- floor, y+ ceiling, z- back, z+ front
    surface = np.array([LEFT, RIGHT, FLOOR, CEILING, BACK, FRONT])[face]
    normal = np.zeros_like(d)
    normal[np.arange(len(d)), face // 2] = np.where(face % 2 == 1, -1.0, 1.0)
    for k, box in enumerate(room.boxes):
        tb, axis = _box_hit(o, d, box)
        closer = tb < t
        t, surface = np.where(closer, tb, t), np.where(closer, FIRST_BOX + k, surface)
        n = np.zeros_like(d)
        n[np.arange(len(d)), axis] = -np.sign(d[np.arange(len(d)), axis])
        normal[closer] = n[closer]
    p = o + t[:, None] * d
    albedo = np.zeros_like(d)
    floor, ceiling = surface == FLOOR, surface == CEILING
    albedo[floor] = _pattern(room.floor, p[floor, 0], p[floor, 2])
    albedo[ceiling] = np.array([0.92, 0.92, 0.9])
    for wall, (ax, bx) in ((BACK, (0, 1)), (LEFT, (2, 1)), (RIGHT, (2, 1)), (FRONT, (0, 1))):
        sel = surface == wall
        albedo[sel] = _pattern(room.wall, p[sel, ax], p[sel, bx])
    if room.picture is not None:
        x0, x1, y0, y1, colour = room.picture
        sel = (surface == BACK) & (p[:, 0] > x0) & (p[:, 0] < x1) & (p[:, 1] > y0) & (p[:, 1] < y1)
        albedo[sel] = colour * (0.75 + 0.25 * np.sin(9 * p[sel, 0:1]) * np.cos(7 * p[sel, 1:2]))
    for k, box in enumerate(room.boxes):
        sel = surface == FIRST_BOX + k
        albedo[sel] = np.where((normal[sel, 1] > 0.5)[:, None], box.top, box.albedo)
    shade = np.full(len(d), AMBIENT)
    for light, power in zip(room.lights, room.power):
        to_light = light - p
        dist = np.linalg.norm(to_light, axis=-1)
        ldir = to_light / dist[:, None]
        lit = np.ones(len(d), bool)
        for box in room.boxes:  # shadows of the furniture (the walls never block a light inside the room)
            tb, _ = _box_hit(p + EPS * 10 * normal, ldir, box)
            lit &= tb >= dist
        shade += lit * power * np.clip((normal * ldir).sum(-1), 0, None) / (1 + 0.15 * dist**2)
    colour = np.clip(albedo * shade[:, None], 0, 1) ** GAMMA
    if not room.ceiling:  # open top: a dark sky, no surface, read as the far plane
        colour[ceiling], t[ceiling], surface[ceiling] = np.array([0.12, 0.14, 0.2]), DEPTH_FAR, OPEN
    if t.max() > DEPTH_FAR + 1e-6 or t.min() <= 0:
        raise ValueError(f"planar depth {t.min():.3f}..{t.max():.3f} m leaves (0, {DEPTH_FAR}]: camera outside the "
                         "room or a room larger than DEPTH_FAR")
    image = np.round(colour * 255).astype(np.uint8).reshape(size, size, 3)
    return RoomView(image, t.astype(np.float32).reshape(size, size), surface.astype(np.int16).reshape(size, size))


def _texture(rng: np.random.Generator, kinds: tuple[str, ...], low: float, high: float) -> tuple:
    base = rng.uniform(low, high, 3)
    return kinds[rng.integers(len(kinds))], base, np.clip(base * rng.uniform(0.6, 0.9) + 0.05, 0, 1)


def sample_room(rng: np.random.Generator, ceiling: bool = True) -> tuple[Room, np.ndarray]:
    """A random room, its furniture and lights, and a camera position ``(3,)`` inside it (at ``z = 0``)."""
    width, height = rng.uniform(3.0, 5.0), rng.uniform(2.4, 3.0)
    back, front = rng.uniform(3.0, 5.5), rng.uniform(0.3, 1.0)
    camera = np.array([rng.uniform(-0.2, 0.2) * width, rng.uniform(1.1, 1.6), 0.0])
    boxes = []
    names = list(FURNITURE)
    for _ in range(rng.integers(1, 5)):
        (wx, hy, dz, at_back) = FURNITURE[names[rng.integers(len(names))]]
        sx, sy, sz = rng.uniform(*wx), rng.uniform(*hy), rng.uniform(*dz)
        sx = min(sx, width - 0.2)
        x0 = rng.uniform(-width / 2, width / 2 - sx)
        z0 = -back if at_back and rng.random() < 0.7 else rng.uniform(-back, max(-back, -0.8 - sz))
        sz = min(sz, -0.6 - z0)  # keep clear of the camera plane
        colour = rng.uniform(0.2, 0.9, 3)
        top = np.clip(colour + rng.uniform(0.0, 0.4), 0, 1)
        boxes.append(Box(np.array([x0, 0.0, z0]), np.array([x0 + sx, sy, z0 + sz]), colour, top))
    n_lights = int(rng.integers(1, 3))
    lights = np.stack([rng.uniform(-width / 2 + 0.3, width / 2 - 0.3, n_lights), np.full(n_lights, height - 0.15),
                       rng.uniform(-back + 0.3, -0.3, n_lights)], -1)
    power = rng.uniform(0.8, 1.6, n_lights) / n_lights**0.5
    picture = None
    if rng.random() < 0.6:
        pw, ph = rng.uniform(0.5, 1.2), rng.uniform(0.4, 0.8)
        px = rng.uniform(-width / 2 + 0.1, width / 2 - 0.1 - pw)
        picture = (px, px + pw, 1.3, 1.3 + ph, rng.uniform(0.1, 1.0, 3))
    room = Room(width, height, back, front, bool(ceiling), _texture(rng, ("planks", "tiles", "solid"), 0.3, 0.8),
                _texture(rng, ("solid", "stripes"), 0.5, 0.95), picture, boxes, lights, power)
    return room, camera


def sample_view(seed: int, index: int, size: int = 64, fov: float = FOV, yaw_range: float = YAW_RANGE,
                ceiling: str = "always") -> tuple[RoomView, dict]:
    """View ``index`` of the set of ``seed`` (deterministic in ``(seed, index)``).

    Args:
        seed: Seed of the set.
        index: View index.
        size: Image side.
        fov: Full field of view (degrees).
        yaw_range: Yaw ~ ``U(-yaw_range, yaw_range)`` radians.
        ceiling: One of :data:`CEILING_MODES` (``'random'``: a ceiling with probability 0.5).

    Returns:
        The :class:`RoomView` and ``dict(yaw, camera, room)``.
    """
    if ceiling not in CEILING_MODES:
        raise ValueError(f"ceiling must be one of {CEILING_MODES}, got {ceiling!r}")
    rng = np.random.default_rng([seed, index])
    yaw = float(rng.uniform(-yaw_range, yaw_range))
    coin = rng.random()  # drawn in every mode, so the rooms do not depend on ``ceiling``
    has_ceiling = coin < 0.5 if ceiling == "random" else ceiling == "always"
    room, camera = sample_room(rng, has_ceiling)
    return render_room(room, camera, yaw, size, fov), dict(yaw=yaw, camera=camera, room=room)


def build_rooms_dataset(root: str | Path, num: int = 200, size: int = 64, seed: int = 0, fov: float = FOV,
                        yaw_range: float = YAW_RANGE, ceiling: str = "always", depth_format: str = "png",
                        layout: str = "metric") -> Path:
    """Write ``num`` room views in the RGBD layout (module docstring).

    Args:
        root: Output folder (created; files of the same names overwritten).
        num: Number of images.
        size: Image side.
        seed: Seed.
        fov: Full field of view (degrees).
        yaw_range: Yaw half range (radians).
        ceiling: One of :data:`CEILING_MODES`.
        depth_format: Metric layout: ``'png'`` (16-bit, ``depth_scale`` in ``rgbd.json``) or ``'npy'`` (float32).
        layout: ``'metric'`` or ``'depthgan'`` (the official 16-bit encoding of ``2 z / DEPTH_FAR - 1``).

    Returns:
        ``root`` as a Path.
    """
    if depth_format not in ("png", "npy"):
        raise ValueError(f"depth_format must be 'png' or 'npy', got {depth_format!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = Path(root)
    for sub in ("rgb", "depth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    depth_scale = float(DEPTH_PNG_MAX // DEPTH_FAR)
    yaws = {}
    for i in range(int(num)):
        stem = f"room_{i:05d}"
        view, info = sample_view(seed, i, size, fov, yaw_range, ceiling)
        yaws[stem] = info["yaw"]
        cv2.imwrite(str(root / "rgb" / f"{stem}.png"), cv2.cvtColor(view.image, cv2.COLOR_RGB2BGR))
        if layout == "depthgan":
            norm = normalise_metric_depth(view.depth, (0.0, DEPTH_FAR))
            cv2.imwrite(str(root / "depth" / f"{stem}.png"), encode_depthgan_png(norm))
        elif depth_format == "png":
            cv2.imwrite(str(root / "depth" / f"{stem}.png"), encode_depth_png(view.depth, depth_scale))
        else:
            np.save(root / "depth" / f"{stem}.npy", view.depth)
    if layout == "metric":
        meta = dict(version=1, depth_kind="planar", depth_range=[0.0, DEPTH_FAR], fov=float(fov), yaw=yaws,
                    source=f"gen3d.datasets.rooms_synthesis seed={seed} size={size} ceiling={ceiling}")
        if depth_format == "png":
            meta["depth_scale"] = depth_scale
        (root / "rgbd.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return root


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m gen3d.datasets.rooms_synthesis OUT [--num N] [--size S] [--seed K] [--ceiling C]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fov", type=float, default=FOV)
    parser.add_argument("--ceiling", choices=CEILING_MODES, default="always")
    parser.add_argument("--depth-format", choices=("png", "npy"), default="png")
    parser.add_argument("--layout", choices=LAYOUTS, default="metric")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    build_rooms_dataset(args.out, args.num, args.size, args.seed, args.fov, ceiling=args.ceiling,
                        depth_format=args.depth_format, layout=args.layout)
    elapsed = time.perf_counter() - start
    print(f"wrote {args.num} rooms of {args.size} px to {args.out} ({args.num / elapsed:.1f} images/s)")


if __name__ == "__main__":
    main()
