"""InterClassGAN applications from a checkpoint and its awareness (``tools/editing/channel_awareness.py``).

Subcommands (all write one PNG; classes by name or index; ``--num`` latents of ``--seed``)::

    edit     CKPT AW.npz --out e.png --class disc --layer block1 [--channel K] [--values -3 0 1 3 6]
             (no --channel: the class's most aware channel of the layer)
    hybrid   CKPT AW.npz --out h.png --class disc --class-b stripes [--top-frac 0.25]
    segment  CKPT AW.npz --out s.png --class square [--clusters 4]   (rows: image, awareness, uniform weights)
    evaluate CKPT AW.npz --out - --data-root data/classes-32 [--num-per-class 50]   (per-class fd_lite0 table)
"""

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="InterClassGAN: edit / hybrid / segment / evaluate")
    parser.add_argument("command", choices=("edit", "hybrid", "segment", "evaluate"))
    parser.add_argument("checkpoint")
    parser.add_argument("awareness", help=".npz written by tools/editing/channel_awareness.py")
    parser.add_argument("--out", required=True, help="output .png (evaluate: a .json, or - to print only)")
    parser.add_argument("--config")
    parser.add_argument("--class", dest="cls", help="class name or index")
    parser.add_argument("--class-b", help="hybrid: the class whose aware channels are taken")
    parser.add_argument("--layer")
    parser.add_argument("--channel", type=int)
    parser.add_argument("--values", type=float, nargs="+", default=[-3.0, 0.0, 1.0, 3.0, 6.0])
    parser.add_argument("--top-frac", type=float, default=0.25)
    parser.add_argument("--clusters", type=int, default=4)
    parser.add_argument("--data-root", help="evaluate: class folders <root>/<class name>/*.png")
    parser.add_argument("--num-per-class", type=int, default=50)
    parser.add_argument("--num", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def class_index(text: str | None, names: list[str], flag: str) -> int:
    """A class given by name or index, validated against ``names``."""
    if text is None:
        raise ValueError(f"{flag}: required by this command")
    if text in names:
        return names.index(text)
    if text.isdigit() and int(text) < len(names):
        return int(text)
    raise ValueError(f"{flag}: unknown class {text!r}; classes: {names}")


def run(args: argparse.Namespace) -> str:
    import torch

    from gen3d.apis.gan_inference import load_generator
    from gen3d.models.editing.interclass import ChannelAwareness, channel_sweep, hybridise, segment
    from gen3d.models.editing.interclass.applications import onehot
    from gen3d.models.editing.interclass.pictures import labelled_grid, overlay_labels, save_png

    gen = load_generator(args.checkpoint, args.config)
    aw = ChannelAwareness.load(args.awareness)
    names = [str(n) for n in aw.meta.get("classes") or range(aw.num_classes)]
    z = torch.randn(args.num, gen.z_dim, generator=torch.Generator().manual_seed(args.seed))
    if args.command == "evaluate":
        import json

        from gen3d.demos.interclassgan_demo import real_images_by_class
        from gen3d.models.editing.interclass import category_wise_evaluation

        if not args.data_root or not all(osp.isdir(osp.join(args.data_root, n)) for n in names):
            raise ValueError(f"--data-root: needs one folder per class {names}, got {args.data_root}")
        ev = category_wise_evaluation(gen, real_images_by_class(args.data_root, tuple(names), args.num_per_class), aw,
                                      seed=args.seed)
        for y, row in ev["per_class"].items():
            print(f"{names[y]:<10} total {row['total_awareness']:.3f}  fd_lite0 {row['fd']:.2f}  diversity "
                  f"{row['diversity']:.3f}")
        print(f"corr(total, fd_lite0) {ev['corr_total_vs_fd']}; corr(total, diversity) "
              f"{ev['corr_total_vs_diversity']}")
        if args.out != "-":
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(ev, f, indent=2, default=str)
        return args.out
    y = class_index(args.cls, names, "--class")
    if args.command == "edit":
        layer = args.layer or aw.layers[len(aw.layers) // 2]
        k = args.channel if args.channel is not None else int(aw.top_channels(y, layer, 1)[0])
        rows = list(channel_sweep(gen, z, y, layer, k, args.values))
        grid = labelled_grid(rows, [f"x{v:g}" for v in args.values], header=f"{names[y]} {layer} channel {k}")
    elif args.command == "hybrid":
        b = class_index(args.class_b, names, "--class-b")
        with torch.no_grad():
            rows = [gen(z, onehot(gen, y, len(z))).image, hybridise(gen, z, y, b, aw, args.top_frac),
                    gen(z, onehot(gen, b, len(z))).image]
        grid = labelled_grid(rows, [names[y], f"{names[y]}<-{names[b]}", names[b]])
    else:
        lab_aw, img = segment(gen, z, [y] * len(z), aw, args.clusters, seed=args.seed)
        lab_un, _ = segment(gen, z, [y] * len(z), None, args.clusters, seed=args.seed)
        grid = labelled_grid([img, overlay_labels(img, lab_aw), overlay_labels(img, lab_un)],
                             [names[y], "awareness", "uniform"])
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    return save_png(grid, args.out)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    for path, what in ((args.checkpoint, "checkpoint"), (args.awareness, "awareness")):
        if not osp.isfile(path):
            sys.exit(f"error: {what} {path} does not exist")
    try:
        out = run(args)
    except (TypeError, ValueError) as err:
        sys.exit(f"error: {err}")
    print(f"{args.command} -> {out}")
    return out


if __name__ == "__main__":
    main()
