"""``make demo-gan``: StyleGAN2 with and without DynamicD on 100 offline LFW faces, trained on CPU in minutes.

1. writes the demo set: the 100 grey face crops bundled with scikit-image (``skimage.data.lfw_subset``), 25 px
   upscaled to 32 px; a limited-data case;
2. trains the 32-px demo config (plain discriminator) for ``--iters`` iterations, validating before training and
   ``--evals`` times; ``--runs StyleGAN2 "DynamicD decreasing"`` adds the DynamicD counterpart (width 1.0 -> 0.5
   over the run, random channels), trained the same way (twice the time);
3. per validation: a 64-sample grid (``<run>/samples/iter_*.png``, same latents every time) and a metric row
   (``<run>/samples/metrics.csv``); at the end the curve (``metric_curve.png``) and ``results.json``.

Metric: FID/KID with the FID Inception weights when present, otherwise the offline Lite0 features (``fd_lite0``,
``kd_lite0``; NOT FID/KID), 100 fakes vs the 100 training faces: compare the numbers within this demo only.
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="StyleGAN2 +/- DynamicD on 100 offline LFW faces (32 px, CPU)")
    parser.add_argument("--work-dir", default="work_dirs/demo_gan")
    # Measured on the shared 2-core machine: 1500 iterations + 6 validations = 373 s per run (0.17 s per step).
    parser.add_argument("--iters", type=int, default=1500, help="training iterations per run (batch 8)")
    parser.add_argument("--evals", type=int, default=5, help="validations per run (plus one before training)")
    parser.add_argument("--runs", nargs="+", default=["StyleGAN2"], choices=["StyleGAN2", "DynamicD decreasing"],
                        help="which runs, in order (default: StyleGAN2 only)")
    parser.add_argument("--kid", action="store_true", help="also compute KID (slower validations)")
    # Shared 2-core machines: one thread avoids oversubscription (measured 10x slower steps with 2 threads under load).
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch

    from gen3d.demos.gan_demo import format_curves, metric_key, run_gan_demo
    from gen3d.utils.checkpoint import atomic_write_bytes

    torch.set_num_threads(args.threads)
    start = time.time()
    results = run_gan_demo(args.work_dir, args.iters, args.evals, tuple(args.runs), kid=args.kid)
    out = osp.join(args.work_dir, "results.json")
    atomic_write_bytes(json.dumps(results, indent=2).encode(), out)
    print(f"\nStyleGAN2 on {results['dataset']['images']} LFW faces ({results['dataset']['resolution']} px), "
          f"{args.iters} iterations x 8 images per run, metric per validation:\n")
    print(format_curves({n: results[n] for n in args.runs}))
    for name in args.runs:
        rows = results[name]["rows"]
        key = metric_key(rows)
        best = min(r[key] for r in rows)
        print(f"[demo-gan] {name}: {key} {rows[0][key]:.4g} (untrained) -> {rows[-1][key]:.4g} (last), best "
              f"{best:.4g}; {results[name]['train_s']:.0f} s; grids {args.work_dir}/*/samples/")
    print(f"[demo-gan] curve {results['plot']}; {time.time() - start:.0f} s in all; results {out}")


if __name__ == "__main__":
    main()
