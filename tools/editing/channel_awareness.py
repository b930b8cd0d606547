"""InterClassGAN channel awareness of a class-conditional checkpoint (He et al., arXiv 2203.11173).

``python tools/editing/channel_awareness.py CKPT --out aw [--num-samples 128] [--definition grad_x_activation]``
writes ``aw.npz`` (``awareness/<layer>``, ``raw/<layer>``: ``(classes, channels)``) and ``aw.json`` (definition,
latents, seed, layers, class names, checkpoint), and prints per class the fraction of aware channels
(``A >= --threshold``), the total awareness and the top-10 % Jaccard overlap with every other class.

Example::

    python tools/editing/channel_awareness.py work_dirs/biggan_lite_1xb16-20kimg_classes-32/iter_1250.pth --out aw
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def class_names(checkpoint: str, num: int) -> list[str]:
    """The training set's class names saved in the checkpoint's meta (indices as names when absent)."""
    from gen3d.utils.checkpoint import load_local_checkpoint

    meta = load_local_checkpoint(checkpoint, map_location="cpu").get("meta", {})
    names = list((meta.get("dataset_meta") or {}).get("classes") or [])
    return [str(n) for n in names] if len(names) == num else [str(i) for i in range(num)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from gen3d.models.editing.interclass import AWARE_THRESHOLD, AWARENESS_FNS, DEFAULT_AWARENESS

    parser = argparse.ArgumentParser(description="Channel awareness (InterClassGAN) of a class-conditional GAN")
    parser.add_argument("checkpoint", help="GAN checkpoint (.pth) written by tools/train.py (e.g. BigGAN)")
    parser.add_argument("--config", help="config file (default: the one saved in the checkpoint)")
    parser.add_argument("--out", required=True, help="output prefix: OUT.npz and OUT.json")
    parser.add_argument("--definition", default=DEFAULT_AWARENESS, choices=sorted(AWARENESS_FNS))
    parser.add_argument("--num-samples", type=int, default=128, help="latents per class (the same for every class)")
    parser.add_argument("--layers", nargs="+",
                        help="feature layers (default: the CCBN + ReLU activations block{b}.act1/.act2, the "
                             "paper's), e.g. fc block0 block1 for the block outputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=AWARE_THRESHOLD, help="aware: A >= threshold")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    from gen3d.apis.gan_inference import load_generator
    from gen3d.models.editing.interclass import aware_fraction, channel_awareness, overlap_matrix

    if not osp.isfile(args.checkpoint):
        sys.exit(f"error: checkpoint {args.checkpoint} does not exist")
    try:
        gen = load_generator(args.checkpoint, args.config, args.device)
        aw = channel_awareness(gen, num_samples=args.num_samples, layers=args.layers, awareness_fn=args.definition,
                               seed=args.seed, batch=args.batch)
    except (TypeError, ValueError) as err:
        sys.exit(f"error: {err}")
    names = class_names(args.checkpoint, aw.num_classes)
    aw.meta.update(checkpoint=osp.abspath(args.checkpoint), classes=names)
    npz, meta = aw.save(args.out)
    frac, total, jac = aware_fraction(aw, args.threshold)["all"], aw.total(), overlap_matrix(aw, "jaccard")
    width = max(8, *(len(n) for n in names))
    print(f"awareness {aw.definition} / {aw.normalisation}, {aw.num_samples} latents per class, layers "
          f"{', '.join(aw.layers)}")
    print(f"{'class':<{width}}  aware(A>={args.threshold:g})  total   " + "  ".join(f"{n[:7]:>7}" for n in names))
    for y, n in enumerate(names):
        print(f"{n:<{width}}  {frac[y]:>13.3f}  {total[y]:.3f}   " + "  ".join(f"{v:7.3f}" for v in jac[y]))
    print(f"(last columns: Jaccard of the top-10 % aware channels per layer)\n-> {npz}, {meta}")
    return npz


if __name__ == "__main__":
    main()
