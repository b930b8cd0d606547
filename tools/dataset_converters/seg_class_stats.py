"""Class statistics of a segmentation dataset's masks, for rare class sampling (DAFormer RCS, arXiv 2111.14887).

Writes DAFormer's three files (the format of its ``tools/convert_datasets/gta.py``; see
``gen3d/datasets/segmentation/rcs.py``) into ``--out-dir`` (default: ``data_root``, where the samplers look)::

    python tools/dataset_converters/seg_class_stats.py GTA5Dataset data/gta --nproc 8
    python tools/dataset_converters/seg_class_stats.py CityscapesDataset data/cityscapes --split train
    python tools/dataset_converters/seg_class_stats.py FolderSegDataset data/mine --split labeled

The dataset is built as training builds it (``--dataset-args`` adds JSON keyword arguments), so the masks, their
label map (GTA5 ids -> Cityscapes train ids) and ``reduce_zero_label`` are exactly those training reads.
"""

import argparse
import json
import os
import os.path as osp
import sys
from collections.abc import Iterable
from multiprocessing import Pool

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _progress(iterable: Iterable, total: int) -> Iterable:
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="masks", unit="mask")


def _stats(job: tuple) -> dict:
    from gen3d.datasets.segmentation.rcs import mask_class_stats

    return mask_class_stats(*job)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset_type", help="registered dataset class, e.g. GTA5Dataset, CityscapesDataset")
    parser.add_argument("data_root")
    parser.add_argument("--split", help="split name or file (default: the dataset's)")
    parser.add_argument("--dataset-args", default="{}", help="more dataset keyword arguments as JSON")
    parser.add_argument("-o", "--out-dir", help="output folder (default: data_root)")
    parser.add_argument("--num-classes", type=int, help="fail on mask values >= this (default: the class count)")
    parser.add_argument("--nproc", type=int, default=1, help="worker processes")
    parser.add_argument("--temp", type=float, default=None, help="also print RCS probabilities at this temperature")
    args = parser.parse_args(argv)
    from mmengine.registry import DefaultScope

    from gen3d.datasets.segmentation.rcs import RCS_CLASS_TEMP, rcs_class_probs, write_class_stats
    from gen3d.registry import DATASETS

    kwargs = dict(json.loads(args.dataset_args), type=args.dataset_type, data_root=args.data_root, pipeline=[])
    if args.split is not None:
        kwargs["split"] = args.split
    with DefaultScope.overwrite_default_scope("gen3d"):
        dataset = DATASETS.build(kwargs)
    classes = dataset.metainfo.get("classes")
    num_classes = args.num_classes if args.num_classes is not None else (len(classes) if classes else None)
    jobs = []
    for i in range(len(dataset)):
        rec = dataset.get_data_info(i)
        if not rec.get("seg_map_path"):
            raise SystemExit(f"record {i} ({rec.get('img_path')}) has no mask file: class statistics need the "
                             f"labeled split of a dataset with mask files")
        jobs.append((rec["seg_map_path"], rec.get("label_map"), bool(rec.get("reduce_zero_label")),
                     int(rec.get("ignore_index", 255)), num_classes))
    if not jobs:
        raise SystemExit(f"{args.dataset_type} at {args.data_root} lists no image")
    if args.nproc > 1:
        with Pool(args.nproc) as pool:
            stats = list(_progress(pool.imap(_stats, jobs, chunksize=16), len(jobs)))
    else:
        stats = [_stats(job) for job in _progress(jobs, len(jobs))]
    out_dir = args.out_dir or args.data_root
    os.makedirs(out_dir, exist_ok=True)
    paths = write_class_stats(out_dir, stats)
    temp = RCS_CLASS_TEMP if args.temp is None else args.temp
    order, probs = rcs_class_probs(stats, temp)
    totals = {c: sum(s.get(str(c), 0) for s in stats) for c in order}
    n_all = sum(totals.values())
    print(f"{len(stats)} masks; class, name, pixels, frequency, files with it, RCS probability at T={temp}:")
    for c, p in sorted(zip(order, probs)):
        name = classes[c] if classes and c < len(classes) else ""
        n_files = sum(str(c) in s for s in stats)
        print(f"{c:4d} {name:>16} {totals[c]:>14d} {totals[c] / n_all:9.5f} {n_files:7d} {p:9.5f}")
    print("wrote " + ", ".join(paths))


if __name__ == "__main__":
    main()
