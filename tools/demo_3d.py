"""``make demo-3d``: pi-GAN with and without GeoD on the offline 3D set, same seed and budget, on 2 CPU cores.

1. writes the set (``gen3d.datasets.shape3d_synthesis``): ``--images`` shaded analytic objects, 32 px, on a white
   background, with true normals, depths, masks and pi-GAN's CelebA camera poses;
2. trains the CPU pi-GAN config and its GeoD counterpart (D's geometry head learns the set's true normals, its
   normals of the fakes supervise the rendered ones) side by side, one process and one thread each, ``--iters``
   iterations of 8 images, validating ``--evals`` times (a sample grid and a ``metrics.csv`` row per validation);
3. trains a geometry probe (a supervised normal / depth / mask estimator) on the real images and scores both final
   EMA generators: the rendered normals and depth against the probe's reading of the same 200 fakes (GeoD's
   protocol), beside the image metric and the multi-view consistency of the last validation;
4. prints the table, writes ``compare_geometry.png`` (RGB | depth | normals of 8 seeds per run), a yaw sweep per run
   and ``results.json``.

Image metric: FID/KID with the Inception weights, otherwise the offline Lite0 features (``fd_lite0``, NOT FID);
200 fakes vs 200 reals: compare within this demo only.
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="pi-GAN +/- GeoD on the offline 3D set (32 px, CPU)")
    parser.add_argument("--work-dir", default="work_dirs/demo_3d")
    parser.add_argument("--iters", type=int, default=1200, help="training iterations per run (batch 8)")
    parser.add_argument("--evals", type=int, default=2, help="validations per run")
    parser.add_argument("--images", type=int, default=1000, help="images in the offline set")
    parser.add_argument("--probe-iters", type=int, default=600, help="training steps of the geometry probe")
    parser.add_argument("--score-fakes", type=int, default=200, help="fakes per run scored against the probe")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the scoring step")
    parser.add_argument("--grid-rows", type=int, default=8, help="seeds (rows) in compare_geometry.png")
    parser.add_argument("--sweep-frames", type=int, default=24, help="views in each yaw-sweep GIF")
    parser.add_argument("--seed", type=int, help="randomness.seed of both runs (default: the configs', 0)")
    return parser.parse_args(argv)


def _row(name: str, score: dict) -> list[str]:
    val, geo = score["validation"], score["geometry"]
    img_key = next(k for k in ("fid", "fd_lite0") if any(c == k or c.endswith("/" + k) for c in val))
    img = next(v for c, v in val.items() if c == img_key or c.endswith("/" + img_key))
    mv = next((v for c, v in val.items() if c.endswith("mv_depth_rel_error")), float("nan"))
    return [name, f"{img_key} {img:.1f}", f"{geo['normal_mean_deg']:.1f}", f"{geo['normal_median_deg']:.1f}",
            f"{geo['normal_within_30']:.2f}", f"{geo['depth_absrel']:.4f}", f"{mv:.4f}", f"{score['train_s']:.0f}"]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gen3d.demos.gan3d_demo import DEMO3D_RUNS, build_demo3d_dataset, score_run, train_parallel, write_pictures
    from gen3d.demos.geometry_probe import train_probe
    from gen3d.utils.checkpoint import atomic_write_bytes

    start = time.time()
    data = build_demo3d_dataset(osp.join(args.work_dir, "data", "shape3d-white-32"), num=args.images)
    print(f"[demo-3d] data {data}; training {len(DEMO3D_RUNS)} runs side by side, {args.iters} iterations each")
    trained = train_parallel(DEMO3D_RUNS, args.work_dir, str(data), args.iters, args.evals, seed=args.seed)
    torch.set_num_threads(args.threads)
    probe, probe_scores = train_probe(data, iters=args.probe_iters)
    scores = {name: score_run(res, probe, num=args.score_fakes) for name, res in trained.items()}
    pictures = write_pictures(trained, args.work_dir, range(args.grid_rows), args.sweep_frames)
    header = ["run", "image metric", "normal mean deg", "median deg", "within 30", "depth absrel", "mv depth err",
              "train s"]
    rows = [header] + [_row(n, s) for n, s in scores.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"\nRendered geometry vs the probe's reading of the same {args.score_fakes} fakes (lower is better), "
          "image metric and multi-view depth error of the last validation:\n")
    print("\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows))
    print(f"\n[demo-3d] probe on {probe_scores['test_images']} held-out real images vs the true geometry: normals "
          f"{probe_scores['normal_mean_deg']:.1f} deg mean, depth absrel {probe_scores['depth_absrel']:.4f}, mask IoU "
          f"{probe_scores['mask_iou']:.2f} (what the scores above can resolve)")
    out = osp.join(args.work_dir, "results.json")
    atomic_write_bytes(json.dumps({"runs": scores, "probe": probe_scores, "pictures": pictures,
                                   "iters": args.iters, "images": args.images,
                                   "seed": args.seed}, indent=2).encode(), out)
    print(f"[demo-3d] pictures {', '.join(pictures)}")
    print(f"[demo-3d] {time.time() - start:.0f} s in all; results {out}")


if __name__ == "__main__":
    main()
