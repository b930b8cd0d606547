"""Summarise an anomaly data root before training: ``python tools/browse_data.py DATA_ROOT [--layout L] [--json F]``.

Images per class, split (train / val as the training hold-out draws them / test) and defect type, defective images
with and without a mask, unreadable files, and warnings (a class with no defective or no good test image, masks
missing). Reads the folder only; exits 1 when the root holds no usable class.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Summarise an anomaly data root (MVTec, VisA or folder layout)")
    parser.add_argument("data_root", help="folder holding one folder per product class")
    parser.add_argument("--layout", default="auto", choices=["auto", "mvtec", "visa", "folder"],
                        help="dataset layout (auto: MVTec where train/good and ground_truth exist, else folder)")
    parser.add_argument("--val-ratio", type=float, default=0.1, help="validation hold-out, as in the config")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hold-out, as in the config")
    parser.add_argument("--json", help="also write the summary as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    from gen3d.datasets.anomaly.browse import format_summary, summarize_anomaly_root

    if not os.path.isdir(args.data_root):
        print(f"error: data root {args.data_root} is not a folder", file=sys.stderr)
        return 1
    try:
        summary = summarize_anomaly_root(args.data_root, args.layout, args.val_ratio, args.seed)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    return 0 if summary["classes"] else 1


if __name__ == "__main__":
    sys.exit(main())
