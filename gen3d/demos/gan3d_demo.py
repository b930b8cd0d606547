"""``make demo-3d``: pi-GAN with and without GeoD on the offline 3D set, same seed and budget, as library functions.

``tools/demo_3d.py`` writes the set (:func:`build_demo3d_dataset`: shaded analytic objects on a white background,
true normals / depths / masks / poses), trains the two CPU configs of :data:`DEMO3D_RUNS` side by side (one process
and one thread each, :func:`train_parallel`, progress bars from their logs), then scores each final EMA generator
(:func:`score_run`): the image metric of the config's last validation (FID / KID, or the offline Lite0 proxy
``fd_lite0`` / ``kd_lite0``: NOT FID / KID), the multi-view consistency of one latent at two poses, and the rendered
shapes against a supervised geometry probe's reading of the same fakes (:mod:`gen3d.demos.geometry_probe`, GeoD's
protocol; the probe's own error on held-out real images is printed with it). Pictures: each run's RGB | depth | normal
grid side by side (``compare_geometry.png``) and a yaw sweep per run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import os.path as osp
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gen3d.utils.repo_paths import repo_file

DEMO3D_RUNS = {
    "pi-GAN": repo_file("configs/pigan/pigan_siren-64x4_1xb8-10kimg_shape3d-white-32.py"),
    "pi-GAN + GeoD": repo_file("configs/geod/geod_pigan-siren-64x4_1xb8-10kimg_shape3d-white-32.py"),
}
DEMO3D_IMAGES, DEMO3D_SIZE, DEMO3D_BACKGROUND = 1000, 32, "white"
_ITER_RE = re.compile(r"Iter\(train\) \[\s*(\d+)/(\d+)\]")


def build_demo3d_dataset(root: str, num: int = DEMO3D_IMAGES, size: int = DEMO3D_SIZE,
                         background: str = DEMO3D_BACKGROUND, seed: int = 0) -> Path:
    """Write the demo's posed set once (:func:`~gen3d.datasets.shape3d_synthesis.build_shape3d_dataset`).

    An existing folder is reused when its ``poses.json`` names the same settings; otherwise it is rewritten.
    """
    from gen3d.datasets.shape3d_synthesis import build_shape3d_dataset

    root_p = Path(root)
    meta_path = root_p / "poses.json"
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            src = str(meta.get("source", ""))
            if (len(meta.get("poses", {})) == num and f"seed={seed} size={size} " in src
                    and f"background={background} " in src):
                return root_p
        except (OSError, ValueError):
            pass  # unreadable: write it again
    return build_shape3d_dataset(root_p, num=num, size=size, seed=seed, background=background)


def _train_child(config: str, work_dir: str, data_root: str, iters: int, evals: int, log_path: str,
                 seed: int | None = None) -> None:
    """One run in a spawned process: stdout / stderr to ``log_path``, one torch thread, then ``train_gan``."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    import torch

    from gen3d.demos.gan_demo import train_gan

    torch.set_num_threads(1)
    result = train_gan(config, work_dir, data_root, iters, evals, log_interval=max(1, min(25, iters // 20)),
                       eval_at_start=False, seed=seed)
    Path(work_dir, "train_result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


def train_parallel(runs: dict[str, str], work_dir: str, data_root: str, iters: int, evals: int,
                   poll_s: float = 1.0, target: Callable[..., None] | None = None,
                   seed: int | None = None) -> dict[str, dict[str, Any]]:
    """Train every ``{name: config}`` at once, each in its own process with one thread; wait for all.

    A progress bar per run follows ``Iter(train) [k/N]`` in its ``train.log``. ``target`` (an importable function
    of ``(config, work_dir, data_root, iters, evals, log_path)`` that writes ``<work_dir>/train_result.json``)
    replaces the training child, for tests. ``seed`` sets every run's ``randomness.seed`` (None: the configs').

    Returns:
        ``{name: train_gan() result + {'work_dir', 'log'}}``.

    Raises:
        RuntimeError: A run failed (its log's last lines are in the message).
    """
    from tqdm import tqdm

    ctx = mp.get_context("spawn")
    procs, bars, dirs = {}, {}, {}
    for pos, (name, config) in enumerate(runs.items()):
        sub = osp.join(work_dir, re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"))
        os.makedirs(sub, exist_ok=True)
        dirs[name] = sub
        log = osp.join(sub, "train.log")
        procs[name] = ctx.Process(target=target or _train_child, args=(config, sub, data_root, iters, evals, log, seed))
        procs[name].start()
        bars[name] = tqdm(total=iters, desc=name, position=pos, dynamic_ncols=True)
    try:
        while any(p.is_alive() for p in procs.values()):
            time.sleep(poll_s)
            for name in runs:
                done = _last_iter(osp.join(dirs[name], "train.log"))
                bars[name].update(max(0, done - bars[name].n))
    finally:
        for p in procs.values():
            p.join()
        for bar in bars.values():
            bar.close()
    results = {}
    for name, p in procs.items():
        out = osp.join(dirs[name], "train_result.json")
        if p.exitcode != 0 or not osp.isfile(out):
            tail = Path(dirs[name], "train.log").read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            raise RuntimeError(f"run {name!r} failed (exit {p.exitcode}); {dirs[name]}/train.log ends:\n"
                               + "\n".join(tail))
        results[name] = {**json.loads(Path(out).read_text(encoding="utf-8")), "work_dir": dirs[name],
                         "log": osp.join(dirs[name], "train.log")}
    return results


def _last_iter(log: str) -> int:
    try:
        text = Path(log).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    found = _ITER_RE.findall(text)
    return int(found[-1][0]) if found else 0


def score_run(result: dict[str, Any], probe: Any, num: int = 200, seed: int = 0) -> dict[str, Any]:  # noqa: ANN401
    """The headline numbers of one trained run: last validation row + probe scores of its EMA generator."""
    from gen3d.apis.gan_inference import load_generator
    from gen3d.demos.geometry_probe import score_generator

    last = dict(result["rows"][-1])
    gen = load_generator(result["checkpoint"])
    geometry = score_generator(gen, probe, num=num, seed=seed)
    return {"validation": last, "geometry": geometry, "train_s": result["train_s"], "checkpoint": result["checkpoint"]}


def write_pictures(results: dict[str, dict[str, Any]], out_dir: str, seeds: range = range(8),
                   frames: int = 24) -> list[str]:
    """Write ``compare_geometry.png`` and a yaw sweep GIF of ``frames`` views per run; returns the paths.

    ``compare_geometry.png``: a row per seed, each run's RGB | depth | normals side by side; the sweeps (with depth
    and normals) go under each run's folder.
    """
    from gen3d.apis.gan_3d import geometry_maps, write_3d_outputs
    from gen3d.apis.gan_inference import load_generator
    from gen3d.models.gans.sampling import seed_latents, seed_poses

    panels, paths = [], []
    for res in results.values():
        gen = load_generator(res["checkpoint"])
        z, pose = seed_latents(list(seeds), int(gen.z_dim)), seed_poses(gen, list(seeds))
        panels.append(geometry_maps(gen, z, pose))  # (N, H, 3W, 3)
        paths += [line.rsplit("-> ", 1)[-1] for line in
                  write_3d_outputs(gen, z[:1], pose[:1], res["work_dir"], [seeds[0]], sweep="yaw", frames=frames,
                                   geometry=True, scale=2)]
    paths.insert(0, save_side_by_side(panels, osp.join(out_dir, "compare_geometry.png")))
    return paths


def save_side_by_side(panels: list[Any], path: str, scale: int = 3) -> str:
    """Write runs' panels ``[(N, H, W_k, 3) uint8, ...]`` side by side (white gaps), a row per sample; returns ``path``.

    The demos' comparison pictures (``compare_geometry.png``, ``compare_rooms.png``), up-scaled ``scale`` times.
    """
    import numpy as np

    from gen3d.apis.gan_inference import make_grid, save_image

    gap = np.full((*panels[0].shape[:2], 4, 3), 255, np.uint8)
    rows = np.concatenate([p if i == 0 else np.concatenate([gap, p], 2) for i, p in enumerate(panels)], 2)
    grid = make_grid(rows.transpose(0, 3, 1, 2), 1, pad=2)
    return save_image(grid.repeat(scale, 0).repeat(scale, 1), path)
