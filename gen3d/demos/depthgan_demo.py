"""``make demo-depthgan``: DepthGAN beside an RGB-only StyleGAN2 of the same size and budget, on the offline rooms.

``tools/demo_depthgan.py`` writes the rooms (:func:`build_rooms_demo`: ray-cast indoor scenes with true planar
depth, :mod:`gen3d.datasets.rooms_synthesis`), trains the two CPU configs of :data:`DEPTHGAN_RUNS` side by side (one
process and one thread each, :func:`~gen3d.demos.gan3d_demo.train_parallel`) for the same iterations of 8 images,
then reads each run's last validation (:func:`last_validation`): the FID-proxy on RGB for both (``fd_lite0``: the
offline EfficientNet-Lite0 features, NOT FID, unless the Inception weights are present), and for DepthGAN alone the
FID-proxy on depth, RotEval (depth and RGB) and the depth-bin accuracy of D's head on real and on fake rooms.

RotEval has no absolute scale, so :func:`room_pair_roteval` scores real rooms under the same warp and focal length
(:data:`REFERENCES`): one room with the camera orbiting the centre of the first view's cloud (the motion DepthGAN's
warp assumes: what a consistent scene scores), one camera turning in place (the rooms' own yaw), and two different
rooms (what no consistency scores). Pictures: :func:`write_pictures` (real | DepthGAN RGB and depth | StyleGAN2, a
row per seed) and a yaw sweep of DepthGAN with its depth.
"""

from __future__ import annotations

import json
import math
import os.path as osp
from pathlib import Path
from typing import Any

import numpy as np

from gen3d.utils.repo_paths import repo_file

DEPTHGAN_RUNS = {
    "DepthGAN": repo_file("configs/depthgan/depthgan_lite_1xb8-20kimg_rooms-32.py"),
    "StyleGAN2 RGB": repo_file("configs/stylegan2/stylegan2_lite-rgb_1xb8-20kimg_rooms-32.py"),
}
ROOMS_IMAGES, ROOMS_SIZE = 1000, 32
REFERENCES = {"real rooms: orbit (warp's motion)": "orbit", "real rooms: turn in place": "in_place",
              "real rooms: two rooms": "shuffled"}  # table label: room_pair_roteval mode
# the headline keys of the table (suffixes of the metric names; the first run lacks none, the baseline has the first)
HEADLINE = ("fd_lite0", "fid", "fd_lite0_depth", "fid_depth", "roteval_depth", "roteval_rgb", "real_depth_acc",
            "fake_depth_acc", "real_depth_ce")


def build_rooms_demo(root: str, num: int = ROOMS_IMAGES, size: int = ROOMS_SIZE, seed: int = 0) -> Path:
    """Write the demo's rooms once (:func:`~gen3d.datasets.rooms_synthesis.build_rooms_dataset`).

    An existing folder is reused when its ``rgbd.json`` names the same seed, size and number of views.
    """
    from gen3d.datasets.rooms_synthesis import build_rooms_dataset

    meta_path = Path(root) / "rgbd.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if len(meta.get("yaw", {})) == num and f"seed={seed} size={size} " in str(meta.get("source", "")):
                return Path(root)
        except (OSError, ValueError):
            pass  # unreadable: write it again
    return build_rooms_dataset(root, num=num, size=size, seed=seed)


def _rgbd(view: Any) -> Any:  # noqa: ANN401
    """``(4, S, S)`` float tensor of a RoomView: RGB in [-1, 1], depth normalised from (0, DEPTH_FAR) to [-1, 1]."""
    import torch

    from gen3d.datasets.rooms_synthesis import DEPTH_FAR

    rgb = torch.from_numpy(view.image).permute(2, 0, 1).float() / 127.5 - 1
    return torch.cat([rgb, torch.from_numpy(view.depth)[None] * (2 / DEPTH_FAR) - 1])


PAIR_MODES = ("orbit", "in_place", "shuffled")


def orbit_camera(room: Any, camera: np.ndarray, yaw_a: float, yaw_b: float, depth_a: np.ndarray,  # noqa: ANN401
                 fov: float) -> np.ndarray | None:
    """Camera b of a room seen as DepthGAN's warp assumes: turned by ``yaw_b - yaw_a`` about view a's cloud centre.

    The warp (:func:`~gen3d.evaluation.metrics.depthgan_warp.warp_by_yaw`) takes view b's camera to be view a's
    orbited about ``c``, the midpoint of the x and z extents of a's points: ``cam2world_b = T(c) R_y(-angle) T(-c)``
    in a's OpenCV frame, which is ``T(c) R_y(angle) T(-c)`` in the rooms' OpenGL frame (``y`` and ``z`` flipped), so
    b looks along world yaw ``yaw_b`` from ``camera + R_y(yaw_a) (c - R_y(angle) c)``.

    Args:
        room: The :class:`~gen3d.datasets.rooms_synthesis.Room`.
        camera: View a's camera centre ``(3,)``, world metres.
        yaw_a: View a's yaw.
        yaw_b: View b's yaw.
        depth_a: View a's planar depth ``(S, S)`` metres.
        fov: Field of view of both, degrees.

    Returns:
        Camera b's centre ``(3,)``, or None when it would stand within 10 cm of a wall or inside a box.
    """
    from gen3d.datasets.rooms_synthesis import camera_rays, yaw_matrix

    points = camera_rays(len(depth_a), fov) * depth_a.reshape(-1, 1)  # OpenGL camera frame (rays have z = -1)
    centre = np.array([(points[:, 0].max() + points[:, 0].min()) / 2, 0.0,
                       (points[:, 2].max() + points[:, 2].min()) / 2])
    rel = yaw_matrix(yaw_b - yaw_a)
    out = np.asarray(camera, float) + yaw_matrix(yaw_a) @ (centre - rel @ centre)
    margin = 0.1
    if not (abs(out[0]) < room.width / 2 - margin and margin < out[1] < room.height - margin
            and -room.back + margin < out[2] < room.front - margin):
        return None
    if any(np.all((out > box.lo - margin) & (out < box.hi + margin)) for box in room.boxes):
        return None
    return out


def room_pair_roteval(num: int = 200, size: int = ROOMS_SIZE, seed: int = 1, mode: str = "orbit",
                      focal: float | None = None) -> dict[str, float]:
    """RotEval of real room pairs, the references of a generator's RotEval on the rooms.

    Pair ``i`` is room ``i`` (``sample_room`` of ``default_rng([seed, i])``) at two yaws drawn independently from
    ``U(-pi/12, pi/12)``, as the validation draws a generator's two views. ``mode``:

    * ``'orbit'``: view b's camera orbits the centre of view a's cloud (:func:`orbit_camera`), the motion the warp
      assumes, so only disocclusions, the view's edges and resampling remain: the floor of a consistent scene. Pairs
      whose camera b would leave the room or enter a box draw new yaws (up to 20 times, then the room is skipped).
    * ``'in_place'``: one camera turning in place, the motion of the rooms' own yaws (not the warp's).
    * ``'shuffled'``: view b from room ``i + 1``: no consistency at all.

    Args:
        num: Pairs.
        size: Image side.
        seed: Seed of the rooms (1: not the training set's 0).
        mode: One of :data:`PAIR_MODES`.
        focal: Focal length the warp is given, pixels (None: the rooms' own, that of the demo config).

    Returns:
        ``{'roteval_depth', 'roteval_rgb', 'pairs'}`` (:class:`~gen3d.evaluation.metrics.depthgan_metric.RotEval`).
    """
    import torch

    from gen3d.datasets.rooms_synthesis import FOV, YAW_RANGE, render_room, sample_room
    from gen3d.evaluation.metrics.depthgan_metric import RotEval

    if mode not in PAIR_MODES:
        raise ValueError(f"mode must be one of {PAIR_MODES}, got {mode!r}")
    focal = size / 2 / math.tan(math.radians(FOV / 2)) if focal is None else float(focal)
    rooms = [sample_room(np.random.default_rng([seed, i])) for i in range(num)]
    rng = np.random.default_rng([seed, num])
    metric, samples = RotEval(prefix="real"), []
    for i, (room, camera) in enumerate(rooms):
        for _ in range(20):
            ya, yb = rng.uniform(-YAW_RANGE, YAW_RANGE, 2)
            a = render_room(room, camera, ya, size)
            other, camera_b = rooms[(i + 1) % num] if mode == "shuffled" else (room, camera)
            if mode == "orbit":
                camera_b = orbit_camera(room, camera, ya, yb, a.depth, FOV)
            if camera_b is not None:
                break
        if camera_b is None:
            continue
        samples.append(dict(fake_rgbd=_rgbd(a), fake_rgbd_b=_rgbd(render_room(other, camera_b, yb, size)),
                            yaw=torch.tensor(ya), yaw_b=torch.tensor(yb), warp_focal=torch.tensor(focal),
                            warp_shift=torch.tensor(0.0)))
    if not samples:
        raise RuntimeError(f"no room of seed {seed} gave an {mode} pair")
    metric.process({}, samples)
    return {**metric.compute_metrics(metric.results), "pairs": len(samples)}


def last_validation(result: dict[str, Any]) -> dict[str, float]:
    """The last ``metrics.csv`` row of a run, keyed by metric name without its prefix (``iter``, ``kimg`` kept)."""
    row = result["rows"][-1]
    return {k.rsplit("/", 1)[-1]: float(v) for k, v in row.items() if v is not None}


def format_table(scores: dict[str, dict[str, float]], references: dict[str, dict[str, float]]) -> str:
    """Runs and references as rows, the :data:`HEADLINE` metrics present in any row as columns ('-': absent)."""
    rows = {**scores, **references}
    keys = [k for k in HEADLINE if any(k in r for r in rows.values())]
    table = [["", *keys]] + [[name, *(f"{r[k]:.4g}" if k in r else "-" for k in keys)] for name, r in rows.items()]
    widths = [max(len(r[j]) for r in table) for j in range(len(table[0]))]
    return "\n".join("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths)))
                     for r in table)


def write_pictures(results: dict[str, dict[str, Any]], out_dir: str, seeds: range = range(8),
                   size: int = ROOMS_SIZE, frames: int = 24) -> list[str]:
    """``compare_rooms.png`` (a row per seed: real RGB | depth, DepthGAN RGB | depth, StyleGAN2 RGB) and a yaw sweep.

    The real rooms are views of the training set's seed; each generator renders the seed's latent (and, for
    DepthGAN, its seeded yaw). The sweep (RGB and depth, ``sweep_yaw_*.gif``) goes under DepthGAN's run folder.

    Returns:
        The written paths, the comparison first.
    """
    from gen3d.apis.gan_3d import geometry_maps, write_3d_outputs
    from gen3d.apis.gan_inference import load_generator
    from gen3d.datasets.rooms_synthesis import sample_view
    from gen3d.demos.gan3d_demo import save_side_by_side
    from gen3d.models.gans.sampling import generate, seed_latents, seed_poses
    from gen3d.runtime.colormaps import geometry_panels

    views = [sample_view(0, s, size)[0] for s in seeds]
    real = geometry_panels({"image": np.stack([v.image for v in views]),
                            "depth": np.stack([v.depth for v in views])[..., None]})
    panels, paths = [real], []
    for res in results.values():
        gen = load_generator(res["checkpoint"])
        z = seed_latents(list(seeds), int(gen.z_dim))
        if int(getattr(gen, "pose_dim", 0)):
            pose = seed_poses(gen, list(seeds))
            panels.append(geometry_maps(gen, z, pose))  # (N, S, 2S, 3): RGB | depth
            paths += [line.rsplit("-> ", 1)[-1] for line in
                      write_3d_outputs(gen, z[:1], pose[:1], res["work_dir"], [seeds[0]], sweep="yaw",
                                       frames=frames, geometry=True, scale=4)]
        else:
            panels.append(generate(gen, z).permute(0, 2, 3, 1).numpy())
    paths.insert(0, save_side_by_side(panels, osp.join(out_dir, "compare_rooms.png")))
    return paths
