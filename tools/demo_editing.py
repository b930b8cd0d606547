"""``make demo-editing``: GAN editing on 2 CPU cores: ReSeFa vs SeFa vs random, PadInv, InterClassGAN.

1. starts InterClassGAN (``gen3d.demos.interclassgan_demo``) in a child process with one thread; its log is
   ``<work-dir>/interclassgan/run.log``;
2. meanwhile trains the 32-px faces StyleGAN2 on the 80 training faces of the 100 offline LFW faces (or takes
   ``--stylegan2-ckpt``), then ReSeFa (Zhu et al., ICML'22) against SeFa and random directions: locality (mean
   ``|dx|`` inside the region over outside, held-out latents) on a mouth box, an eyes box, a label-map region and a
   per-sample label region, with edit grids and GIFs (``<work-dir>/resefa/``);
3. PadInv (Bai et al., ECCV'22) inverting that generator: W+ vs W+ + padding, same budget, on the 20 held-out faces;
4. prints the three tables, writes ``<work-dir>/results.json``; a failed part is reported with its log's path and
   the exit status is 1.

See :mod:`gen3d.demos.editing_demo`. Times are measured on the shared 2-core machine (one thread per process).
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

PARTS = ("resefa", "padinv", "interclassgan")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ReSeFa / SeFa / random, PadInv and InterClassGAN (CPU, minutes)")
    parser.add_argument("--work-dir", default="work_dirs/demo_editing")
    parser.add_argument("--stylegan2-ckpt", help="a 32-px grey faces StyleGAN2 to edit instead of training one")
    # Budgets: see gen3d/demos/editing_demo.py and configs/padinv/README.md for the measured times.
    parser.add_argument("--iters-stylegan2", type=int, default=800, help="faces StyleGAN2 iterations (batch 8)")
    parser.add_argument("--iters-padinv", type=int, default=800, help="iterations of EACH PadInv encoder (batch 8)")
    parser.add_argument("--iters-interclass", type=int, default=600, help="InterClassGAN iterations")
    parser.add_argument("--num-per-class", type=int, default=100, help="InterClassGAN samples per class")
    parser.add_argument("--num-random", type=int, default=20, help="random directions per locality table")
    parser.add_argument("--interclass-timeout", type=float, default=840.0,
                        help="seconds after the start at which the InterClassGAN child is stopped")
    parser.add_argument("--skip", nargs="+", default=[], choices=PARTS, help="parts not to run")
    parser.add_argument("--seed", type=int, default=0)
    # Shared 2-core machines: one thread per process (this one and the child) avoids oversubscription.
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each process")
    parser.add_argument("--interclass-module", default=None, help=argparse.SUPPRESS)  # tests: stand-in modules
    parser.add_argument("--padinv-module", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from gen3d.demos.editing_demo import INTERCLASS_MODULE, PADINV_MODULE, format_demo, run_editing_demo
    from gen3d.utils.checkpoint import atomic_write_bytes

    modules = {"interclass_module": args.interclass_module or INTERCLASS_MODULE,
               "padinv_module": args.padinv_module or PADINV_MODULE}
    start = time.time()
    try:
        results = run_editing_demo(
            args.work_dir, skip=tuple(args.skip), stylegan2_ckpt=args.stylegan2_ckpt,
            iters_stylegan2=args.iters_stylegan2, iters_padinv=args.iters_padinv,
            iters_interclass=args.iters_interclass, num_per_class=args.num_per_class, seed=args.seed,
            threads=args.threads, num_random=args.num_random, interclass_timeout_s=args.interclass_timeout,
            **modules)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"error: {err}")
    out = osp.join(args.work_dir, "results.json")
    atomic_write_bytes(json.dumps(results, indent=2, default=str).encode(), out)
    print("\n" + format_demo(results, **modules) + "\n")
    failed = [p for p in ("stylegan2", *PARTS) if isinstance(results.get(p), dict) and "error" in results[p]]
    times = ", ".join(f"{k} {v:.0f} s" for k, v in results["seconds"].items())
    print(f"[demo-editing] {times}; {time.time() - start:.0f} s in all; results {out}")
    if failed:
        print(f"[demo-editing] FAILED: {', '.join(failed)} (see the messages above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
