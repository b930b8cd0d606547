"""``make demo-seg``: supervised-only vs U2PL on an offline semi-supervised set, trained, tested, compared.

1. builds a small segmentation set from photographs shipped inside scikit-image (no download): objects cut from
   real photographs (cat, coffee, rocket, astronaut) pasted on real textures, exact masks; few labeled images,
   more unlabeled ones, a held-out val split;
2. trains the lite0 DeepLabV3+ supervised-only config (labeled images only) and the U2PL config (labeled +
   unlabeled) for the same number of epochs, as the U2PL paper compares them, and the supervised-only config
   again for as many iterations as U2PL (``supervised-long``: the control for the longer schedule), on CPU
   (``--methods`` picks the runs from ``supervised``, ``supervised-long``, ``u2pl`` and ``meanteacher``, FST's
   Mean-Teacher baseline);
3. tests the last checkpoint of each on the val split (no checkpoint or setting is chosen on it), prints the
   side-by-side table and writes ``results.json``.
"""

import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Supervised-only vs U2PL on an offline segmentation demo set")
    parser.add_argument("--work-dir", default="work_dirs/demo_seg")
    # 16 labeled images put every class in several of them (with 8, one class was often in none); 64 val images
    # make one lost class cost less. One thread: about 1.2-1.8 s per U2PL iteration, 0.4 s per supervised one.
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of the runs (the recipe is 80)")
    parser.add_argument("--lr", type=float, help="SGD learning rate of the runs (default: the configs' 1e-2)")
    parser.add_argument("--n-labeled", type=int, default=16, help="labeled training images")
    parser.add_argument("--n-unlabeled", type=int, default=64, help="unlabeled training images")
    parser.add_argument("--n-val", type=int, default=64, help="val images (the test split of the demo)")
    parser.add_argument("--size", type=int, default=96, help="image side")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dataset")
    parser.add_argument("--methods", type=parse_methods, default=("supervised", "supervised-long", "u2pl"),
                        help="comma-separated runs, in table order, from supervised, supervised-long, u2pl, "
                             "meanteacher")
    return parser.parse_args(argv)


def parse_methods(text: str) -> tuple[str, ...]:
    """``"supervised,u2pl"`` -> ``("supervised", "u2pl")``; unknown or repeated names are an argparse error."""
    from gen3d.demos.seg_demo import METHODS

    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names or len(set(names)) != len(names) or any(n not in METHODS for n in names):
        raise argparse.ArgumentTypeError(f"expected distinct names from {', '.join(METHODS)}, got {text!r}")
    return names


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from gen3d.demos.seg_demo import METHODS, format_comparison, run_seg_demo
    from gen3d.utils.checkpoint import atomic_write_bytes

    start = time.time()
    results = run_seg_demo(args.work_dir, args.epochs, n_labeled=args.n_labeled, n_unlabeled=args.n_unlabeled,
                           n_val=args.n_val, size=args.size, seed=args.seed, lr=args.lr, methods=args.methods)
    out = osp.join(args.work_dir, "results.json")
    atomic_write_bytes(json.dumps(results, indent=2).encode(), out)
    data = results["dataset"]
    labels = {m: METHODS[m][1] for m in args.methods}
    title = " vs ".join("Supervised-only" if m == "supervised" else labels[m] for m in args.methods)
    print(f"\n{title}, lite0 DeepLabV3+, {args.epochs} epochs, {data['n_labeled']} labeled + "
          f"{data['n_unlabeled']} unlabeled images, tested on {data['n_val']} val images ({data['size']}px)\n")
    print(format_comparison({labels[m]: results[m] for m in args.methods}))
    mious = "  ".join(f"{labels[m]} {100 * (results[m]['mIoU'] or 0):.1f}" for m in args.methods)
    print(f"\n[demo-seg] mIoU {mious}; {time.time() - start:.0f} s in all; results {out}")


if __name__ == "__main__":
    main()
