"""Download MVTec AD or VisA (online, on request) and lay VisA out like MVTec AD.

``python tools/dataset_converters/download_anomaly_data.py mvtec --out data/``  -> data/mvtec/<class>/...
``python tools/dataset_converters/download_anomaly_data.py visa --out data/``   -> data/visa (raw) and
data/visa_mvtec (MVTec layout); ``--convert-only`` converts an already downloaded raw VisA.
Both datasets are CC BY-NC-SA 4.0 (non-commercial); by downloading you accept their licences.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", choices=["mvtec", "visa"])
    parser.add_argument("--out", default="data", help="parent folder of the dataset")
    parser.add_argument("--convert-only", action="store_true", help="VisA: convert <out>/visa without downloading")
    args = parser.parse_args(argv)
    from gen3d.datasets.anomaly.convert import (
        MVTEC_AD_PAGE,
        MVTEC_AD_SHA256,
        MVTEC_AD_URL,
        VISA_SHA256,
        VISA_URL,
        download,
        extract,
        visa_to_mvtec,
    )

    if args.dataset == "mvtec":
        target = osp.join(args.out, "mvtec")
        try:
            archive = download(MVTEC_AD_URL, osp.join(args.out, "downloads"), sha256=MVTEC_AD_SHA256)
        except OSError as err:  # the share link moves from time to time
            raise SystemExit(f"cannot download MVTec AD from {MVTEC_AD_URL} ({err}); get "
                             f"mvtec_anomaly_detection.tar.xz from {MVTEC_AD_PAGE}, put it in "
                             f"{osp.join(args.out, 'downloads')} and run this again (it checks the sha256)") from err
        extract(archive, target)
        print(f"MVTec AD in {target}: train with --data-root {target}")
        return
    raw = osp.join(args.out, "visa")
    if not args.convert_only:
        extract(download(VISA_URL, osp.join(args.out, "downloads"), sha256=VISA_SHA256), raw)
    counts = visa_to_mvtec(raw, osp.join(args.out, "visa_mvtec"))
    print(f"VisA raw in {raw} (VisADataset reads it directly); MVTec layout in {args.out}/visa_mvtec: {counts}")


if __name__ == "__main__":
    main()
