"""``make demo-editing``: ReSeFa vs SeFa vs random directions, PadInv and InterClassGAN, on 2 CPU cores.

* InterClassGAN (:func:`gen3d.demos.interclassgan_demo.run_interclass_demo`) starts at once in a child process with
  one thread (``python -m gen3d.demos.editing_demo interclass ...``), writing ``<work_dir>/interclassgan/`` and its
  ``results.json``; its log is ``<work_dir>/interclassgan/run.log``.
* Meanwhile, in this process (one thread): the faces StyleGAN2 (``configs/stylegan2/...lfw-faces-32.py``) trained
  on PadInv's 80 training faces of the 100 offline LFW faces (20 held out, :func:`faces_stylegan2`), or a given
  checkpoint; then ReSeFa (Zhu et al., ICML'22) against SeFa and random directions on the same generator and four
  regions (:func:`gen3d.apis.editing.locality_table`): the mouth box of the official FFHQ boxes scaled to 32 px (it
  lands on the LFW crops' mouth), an eyes box placed on the LFW crops (the scaled FFHQ eyes box lands on the cheeks
  of these tighter crops), a label-map region (the "eyes" label of :func:`face_parts` of the mean training face,
  written as ``face_parts.png``) and the same label per sample (:func:`face_parts` of each generated sample: the
  region follows the sample); edit grids / GIFs (mouth box, eyes label map, SeFa); then PadInv
  (:func:`gen3d.demos.padinv_demo.run_padinv_comparison`) inverting THIS generator, so its held-out faces are unseen
  by the generator too (with the same seed the generator is the one PadInv trains itself).
* The child is waited for with a timeout; a failure of any part is reported with its log's path, never hidden, and
  the other parts still run.

Time, one thread per process, measured on the shared 2-core machine: faces StyleGAN2 800 iterations 310 s + 29 s
for its FD validation (load ~3; :mod:`gen3d.demos.padinv_demo` measured 168-311 s), the ReSeFa tables and pictures
14 s, PadInv 800 iterations per encoder 213 s unloaded (``configs/padinv/README.md``) but 640 s under a load of 5-7
from other jobs; the InterClassGAN child runs on the other core (about 6 min at 600 iterations, its README). Unloaded
the demo takes about 10 min; on a machine loaded by other jobs it can exceed 15 min (the child is then stopped at
``interclass_timeout_s``).

:func:`face_parts` is a fixed intensity rule (dark pixels of the upper / lower face), a stand-in for a face parser:
no pretrained segmentor is shipped offline.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
import traceback
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gen3d.demos.padinv_demo import N_HOLDOUT, SPLIT_SEED
from gen3d.utils.repo_paths import REPO_ROOT, repo_file

FACES_CONFIG = repo_file("configs/stylegan2/stylegan2_lite_1xb8-20kimg_lfw-faces-32.py")
INTERCLASS_MODULE = "gen3d.demos.interclassgan_demo"  # run_interclass_demo, format_interclass_table
PADINV_MODULE = "gen3d.demos.padinv_demo"  # run_padinv_comparison, format_padinv_table
FRAME = 32  # the demo's boxes are in the 32-px frame of the faces, scaled to the generator
BOXES = {"mouth (FFHQ box)": (23, 16, 4, 9),  # scale_box(FFHQ_BOXES['mouth'], 256, 32)
         "eyes (LFW box)": (10, 15, 3, 18)}  # rows 9-11, the eye band of the mean LFW crop
PART_NAMES = ("background", "eyes", "mouth", "skin")
PARTS_LABELS = [1]  # "eyes"
DARK_QUANTILE = 0.3
# The pictures edit ALL layers, as the tables measure (the Jacobian flows through all of them), at |alpha| <= 4: the
# official 4-7 at +-10 (manipulate.py) is for 14-18-layer generators; on this 8-layer 32-px one layers 4-7 are the
# two finest blocks and +-10 changes the whole face (seen on the demo's generator). Our choice, not the paper's.
PICTURE_ALPHA = 4.0


def face_parts(grey: np.ndarray | Tensor) -> np.ndarray:
    """Label ids :data:`PART_NAMES` of a grey face crop ``(H, W)`` (a fixed rule, not a learnt parser).

    The darkest :data:`DARK_QUANTILE` of the face area (the central rectangle) is ``1`` (eyes, upper face) or ``2``
    (mouth, lower face: below 60 % of the height), the rest of the face ``3``, outside it ``0``.
    """
    g = np.asarray(grey.detach().cpu() if isinstance(grey, Tensor) else grey, dtype=np.float64)
    h, w = g.shape
    ids = np.zeros((h, w), np.int64)
    r0, r1, c0, c1 = round(0.2 * h), round(0.85 * h), round(0.15 * w), round(0.8 * w)
    face = g[r0:r1, c0:c1]
    dark = face <= np.quantile(face, DARK_QUANTILE)
    rows = np.arange(r0, r1)[:, None] < round(0.6 * h)
    ids[r0:r1, c0:c1] = np.where(dark, np.where(rows, 1, 2), 3)
    return ids


def parts_region_fn(image: Tensor) -> Tensor:
    """Per-sample region: the "eyes" label of :func:`face_parts` of this sample (``(1, C, R, R)`` -> ``(R, R)``)."""
    return torch.from_numpy(np.isin(face_parts(image[0].mean(0)), PARTS_LABELS))


parts_region_fn.description = "face_parts (gen3d.demos.editing_demo) of each sample, label 1 (eyes)"


def write_parts_map(data_root: str, out_dir: str, size: int = FRAME) -> tuple[str, str]:
    """``face_parts.png`` (:func:`face_parts` of the mean training face at ``size``) and ``face_parts.json``."""
    import cv2

    faces = [cv2.imread(osp.join(data_root, f), cv2.IMREAD_GRAYSCALE) for f in sorted(os.listdir(data_root))
             if f.endswith(".png")]
    if not faces:
        raise FileNotFoundError(f"no face images in {data_root}")
    mean = np.mean([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in faces], axis=0)
    os.makedirs(out_dir, exist_ok=True)
    png, names = osp.join(out_dir, "face_parts.png"), osp.join(out_dir, "face_parts.json")
    cv2.imwrite(png, face_parts(mean).astype(np.uint8))
    with open(names, "w", encoding="utf-8") as f:
        json.dump({"classes": list(PART_NAMES)}, f)
    return png, names


def start_interclass(work_dir: str, iters: int, num_per_class: int, threads: int, seed: int,
                     module: str = INTERCLASS_MODULE) -> tuple[subprocess.Popen, str, str]:
    """Start the InterClassGAN child; returns ``(process, out_dir, log path)``."""
    out_dir = osp.join(work_dir, "interclassgan")
    os.makedirs(out_dir, exist_ok=True)
    log = osp.join(out_dir, "run.log")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, "-m", "gen3d.demos.editing_demo", "interclass", "--out", out_dir, "--iters", str(iters),
           "--num-per-class", str(num_per_class), "--threads", str(threads), "--seed", str(seed), "--module", module]
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(REPO_ROOT))
    return proc, out_dir, log


def wait_interclass(proc: subprocess.Popen, out_dir: str, log: str, timeout_s: float) -> dict[str, Any]:
    """The child's ``results.json``, or ``{'error': ...}`` naming the log (a timeout kills the child)."""
    try:
        code = proc.wait(timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"error": f"InterClassGAN timed out after {timeout_s:.0f} s and was stopped; log {log}"}
    out = osp.join(out_dir, "results.json")
    if code != 0 or not osp.isfile(out):
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = "".join(f.readlines()[-8:])
        return {"error": f"InterClassGAN failed (exit {code}); log {log} ends:\n{tail}"}
    with open(out, encoding="utf-8") as f:
        return json.load(f)


def _interclass_child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m gen3d.demos.editing_demo interclass")
    for name, kind in (("--out", str), ("--iters", int), ("--num-per-class", int), ("--threads", int),
                       ("--seed", int), ("--module", str)):
        parser.add_argument(name, type=kind, required=True)
    args = parser.parse_args(argv)
    from gen3d.utils.checkpoint import atomic_write_bytes

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    run = importlib.import_module(args.module).run_interclass_demo
    res = run(work_dir=args.out, iters=args.iters, num_per_class=args.num_per_class, threads=args.threads,
              seed=args.seed)
    res = {**res, "wall_s": round(time.perf_counter() - start, 1)}
    atomic_write_bytes(json.dumps(res, indent=2, default=str).encode(), osp.join(args.out, "results.json"))


def faces_stylegan2(work_dir: str, iters: int, seed: int) -> dict[str, Any]:
    """Train the faces StyleGAN2 (:data:`FACES_CONFIG`) for ``iters`` iterations on PadInv's training faces.

    The split is :func:`gen3d.demos.padinv_demo.run_padinv_comparison`'s (80 training faces, :data:`N_HOLDOUT` held
    out with seed :data:`SPLIT_SEED`), so one generator serves ReSeFa and PadInv and PadInv's held-out faces stay
    unseen by it. One validation at the end (the demo-gan metric: FID, or Lite0's FD offline, vs those faces).
    """
    from gen3d.datasets.gan_synthesis import build_gan_demo_dataset
    from gen3d.demos.gan_demo import metric_key, train_gan

    data = build_gan_demo_dataset(osp.join(work_dir, "data", "lfw-faces"), resolution=FRAME, n_holdout=N_HOLDOUT,
                                  channels=1, seed=SPLIT_SEED)
    res = train_gan(FACES_CONFIG, osp.join(work_dir, "stylegan2"), str(data / "train"), iters, evals=1,
                    log_interval=max(1, iters // 4), eval_at_start=False, seed=seed)
    key = metric_key(res["rows"])
    return {"checkpoint": res["checkpoint"], "train_s": res["train_s"], "iters": iters,
            "metric": {key: round(res["rows"][-1][key], 3)},
            "data_root": str(data / "train"), "n_train": len(os.listdir(data / "train"))}


def resefa_comparison(work_dir: str, checkpoint: str, data_root: str | None, num_random: int = 20,
                      num_eval: int = 8, num_samples: int = 5, seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    """Locality tables (ReSeFa / SeFa / random) on the demo's regions, and edit grids / GIFs of ``checkpoint``.

    Returns:
        ``{'tables': {region: rows}, 'regions': {region: description}, 'pictures': [paths], 'seconds': s}``.
    """
    from gen3d.apis.editing import compute_directions, locality_table, manipulate, resolve_label_region
    from gen3d.apis.gan_inference import load_generator
    from gen3d.models.editing import scale_box

    start = time.perf_counter()
    gen = load_generator(checkpoint)
    size = min(gen.synthesis.resolution, 256)
    out = osp.join(work_dir, "resefa")
    regions: dict[str, Any] = {n: list(scale_box(b, FRAME, size)) for n, b in BOXES.items()}
    described = {n: f"box {r} at {size} px" for n, r in regions.items()}
    if data_root is not None:
        png, names = write_parts_map(data_root, out)
        regions["eyes (label map)"] = resolve_label_region(png, "eyes", size, names)[0]
        described["eyes (label map)"] = f"{png} labels [1] (eyes), {int(regions['eyes (label map)'].sum())} px"
    regions["eyes (per sample)"] = None
    described["eyes (per sample)"] = parts_region_fn.description
    tables = {}
    for name, region in regions.items():
        fn = parts_region_fn if region is None else None
        tables[name] = locality_table(gen, region, num_eval=num_eval, num_random=num_random,
                                      num_samples=num_samples, region_fn=fn)
    pictures = []
    for tag, kwargs in (("mouth_box", dict(region=list(BOXES["mouth (FFHQ box)"]))),
                        *((("eyes_labels", dict(region=png, region_labels="eyes", class_names=names)),)
                          if data_root is not None else ()),
                        ("sefa", dict(method="sefa"))):
        kwargs = {"method": "resefa", **kwargs}
        if kwargs["method"] == "resefa" and isinstance(kwargs.get("region"), list):  # 32-px frame -> 256-px frame
            kwargs["region"] = list(scale_box(kwargs["region"], FRAME, 256))
        path = compute_directions(checkpoint, osp.join(out, f"{tag}.npz"), num_samples=num_samples, **kwargs)
        pictures += manipulate(checkpoint, path, osp.join(out, tag), layers=tuple(range(gen.num_ws)), seeds=seeds,
                               start=-PICTURE_ALPHA, end=PICTURE_ALPHA, scale=4)
    return {"tables": tables, "regions": described, "pictures": pictures,
            "seconds": round(time.perf_counter() - start, 1)}


def format_locality(tables: dict[str, list[dict]], regions: dict[str, str]) -> str:
    """One block per region: direction, locality (in / out mean ``|dx|``), std, x random."""
    lines = []
    for name, rows in tables.items():
        lines.append(f"{name}: {regions.get(name, '')}")
        lines.append(f"  {'direction':<22}{'locality':>10}{'std':>8}{'x random':>10}")
        lines += [f"  {r['direction']:<22}{r['locality']:>10.3f}{r['std']:>8.3f}{r['x random']:>10.2f}" for r in rows]
    return "\n".join(lines)


def _table(module: str, fn: str, res: dict[str, Any]) -> str:
    if "error" in res:
        return f"  not run: {res['error']}"
    try:
        return getattr(importlib.import_module(module), fn)(res)
    except (ImportError, AttributeError, KeyError, TypeError, ValueError) as err:
        return f"  (no {module}.{fn}: {err}); results: {json.dumps(res, default=str)[:800]}"


def _part(name: str, work_dir: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``fn(*args, **kwargs)``, or ``{'error': ...}`` naming ``<work_dir>/<name>_error.log`` (the traceback)."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - one part's failure must not hide the others' tables
        log = osp.join(work_dir, f"{name}_error.log")
        os.makedirs(work_dir, exist_ok=True)
        with open(log, "w", encoding="utf-8") as f:
            f.write(traceback.format_exc())
        return {"error": f"{name} failed: {type(err).__name__}: {err}; traceback in {log}"}


def _given_stylegan2(work_dir: str, ckpt: str) -> dict[str, Any]:
    if not osp.isfile(ckpt):
        raise FileNotFoundError(f"stylegan2_ckpt {ckpt} does not exist")
    from gen3d.datasets.gan_synthesis import build_gan_demo_dataset

    data = build_gan_demo_dataset(osp.join(work_dir, "data", "lfw-faces"), resolution=FRAME, n_holdout=N_HOLDOUT,
                                  channels=1, seed=SPLIT_SEED)
    return {"checkpoint": ckpt, "given": True, "data_root": str(data / "train")}


def run_editing_demo(work_dir: str, skip: tuple[str, ...] = (), stylegan2_ckpt: str | None = None,
                     iters_stylegan2: int = 800, iters_padinv: int = 800, iters_interclass: int = 600,
                     num_per_class: int = 100, seed: int = 0, threads: int = 1, num_random: int = 20,
                     interclass_timeout_s: float = 840.0, share_generator: bool = True,
                     interclass_module: str = INTERCLASS_MODULE, padinv_module: str = PADINV_MODULE) -> dict[str, Any]:
    """The whole demo (see the module docstring); ``skip`` names parts of ``('padinv', 'interclassgan', 'resefa')``.

    Args:
        work_dir: Output folder (``stylegan2/``, ``resefa/``, ``padinv/``, ``interclassgan/``, ``data/``).
        skip: Parts not to run.
        stylegan2_ckpt: A 32-px grey faces StyleGAN2 to use instead of training one (it may have seen PadInv's
            held-out faces, e.g. ``make demo-gan``'s, trained on all 100).
        iters_stylegan2: Its training iterations (batch 8) when trained here.
        iters_padinv: Iterations of each PadInv encoder (its README: 300 not yet enough, 800 is).
        iters_interclass: The InterClassGAN child's training iterations.
        num_per_class: Its samples per class.
        seed: Seed of every part.
        threads: Torch threads of this process and of the child.
        num_random: Random directions of the locality tables.
        interclass_timeout_s: The child is stopped this many seconds after the demo started.
        share_generator: PadInv inverts the faces StyleGAN2 of this demo (trained on its 80 training faces) instead
            of training its own.
        interclass_module: Module of ``run_interclass_demo`` / ``format_interclass_table`` (tests: a stand-in).
        padinv_module: Module of ``run_padinv_comparison`` / ``format_padinv_table``.

    Returns:
        ``{'stylegan2', 'resefa', 'padinv', 'interclassgan', 'seconds'}`` (the parts run); a failed part holds
        ``{'error': message}`` naming its log.
    """
    bad = sorted(set(skip) - {"padinv", "interclassgan", "resefa"})
    if bad:
        raise ValueError(f"skip: unknown parts {bad}; known: padinv, interclassgan, resefa")
    torch.set_num_threads(threads)
    os.makedirs(work_dir, exist_ok=True)
    start, results, seconds = time.perf_counter(), {}, {}
    child = None
    if "interclassgan" not in skip:
        child = start_interclass(work_dir, iters_interclass, num_per_class, threads, seed, interclass_module)
    sg2: dict[str, Any] = {}
    if "resefa" not in skip or ("padinv" not in skip and share_generator):
        t = time.perf_counter()
        sg2 = (_given_stylegan2(work_dir, stylegan2_ckpt) if stylegan2_ckpt is not None else
               _part("stylegan2", work_dir, faces_stylegan2, work_dir, iters_stylegan2, seed))
        results["stylegan2"], seconds["stylegan2"] = sg2, round(time.perf_counter() - t, 1)
    if "resefa" not in skip:
        t = time.perf_counter()
        results["resefa"] = (sg2 if "error" in sg2 else
                             _part("resefa", work_dir, resefa_comparison, work_dir, sg2["checkpoint"],
                                   sg2["data_root"], num_random))
        seconds["resefa"] = round(time.perf_counter() - t, 1)
    if "padinv" not in skip:
        t = time.perf_counter()
        if share_generator and "error" in sg2:
            results["padinv"] = {"error": f"no generator to invert ({sg2['error']})"}
        else:
            def padinv() -> dict[str, Any]:
                run = importlib.import_module(padinv_module).run_padinv_comparison
                return run(work_dir=osp.join(work_dir, "padinv"), iters=iters_padinv, seed=seed, threads=threads,
                           generator_ckpt=sg2["checkpoint"] if share_generator else None)

            results["padinv"] = _part("padinv", work_dir, padinv)
        seconds["padinv"] = round(time.perf_counter() - t, 1)
    if child is not None:
        t = time.perf_counter()
        results["interclassgan"] = wait_interclass(*child, timeout_s=interclass_timeout_s - (t - start))
        seconds["interclassgan wait"] = round(time.perf_counter() - t, 1)
    seconds["all"] = round(time.perf_counter() - start, 1)
    return {**results, "seconds": seconds}


def format_demo(results: dict[str, Any], interclass_module: str = INTERCLASS_MODULE,
                padinv_module: str = PADINV_MODULE) -> str:
    """The three comparison tables of :func:`run_editing_demo`'s results, as printed by ``make demo-editing``."""
    parts = []
    if "resefa" in results:
        sg2, res = results.get("stylegan2", {}), results["resefa"]
        how = ("given" if sg2.get("given") else
               f"trained here {sg2.get('iters')} iterations on {sg2.get('n_train')} faces, {sg2.get('metric')}")
        parts.append("ReSeFa vs SeFa vs random: locality (mean |dx| in region / outside, alpha 1, all layers, "
                     f"8 held-out latents), faces StyleGAN2 {sg2.get('checkpoint')} ({how})\n"
                     + (f"  not run: {res['error']}" if "error" in res else
                        format_locality(res["tables"], res["regions"]) + f"\n  edit grids / GIFs: {res['pictures'][0]}"
                        f" and {len(res['pictures']) - 1} more"))
    if "padinv" in results:
        parts.append("PadInv:\n" + _table(padinv_module, "format_padinv_table", results["padinv"]))
    if "interclassgan" in results:
        parts.append("InterClassGAN:\n" + _table(interclass_module, "format_interclass_table",
                                                 results["interclassgan"]))
    return "\n\n".join(parts)


if __name__ == "__main__":
    if sys.argv[1:2] != ["interclass"]:
        sys.exit("usage: python -m gen3d.demos.editing_demo interclass --out DIR ... (the demo's child process)")
    _interclass_child(sys.argv[2:])
