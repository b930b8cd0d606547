"""Dataset preparation for users who are online: download with a progress bar, and VisA -> MVTec layout.

Nothing here runs in tests that needs the network: :func:`download` is only called by
``tools/dataset_converters/download_anomaly_data.py`` when a user asks for it.
"""

from __future__ import annotations

import hashlib
import os
import os.path as osp
import shutil
import tarfile
import urllib.request

import cv2
import numpy as np
from tqdm import tqdm

from gen3d.runtime.paths import safe_component, safe_makedirs

# Official sources. Both datasets are CC BY-NC-SA 4.0: non-commercial use only. The MVTec AD link users had
# (.../f282/download/420938113-1629952094/...) is reported dead; this is the current share, and both checksums are
# the ones anomalib verifies (open-edge-platform/anomalib, src/anomalib/data/datamodules/image/{mvtecad,visa}.py).
MVTEC_AD_URL = ("https://www.mydrive.ch/shares/38536/3830184030e49fe74747669442f0f283/download/420938113-1629960298/"
                "mvtec_anomaly_detection.tar.xz")
MVTEC_AD_SHA256 = "cf4313b13603bec67abb49ca959488f7eedce2a9f7795ec54446c649ac98cd3d"
MVTEC_AD_PAGE = "https://www.mvtec.com/company/research/datasets/mvtec-ad"  # where to get it by hand if the link moves
VISA_URL = "https://amazon-visual-anomaly.s3.us-west-2.amazonaws.com/VisA_20220922.tar"
VISA_SHA256 = "2eb8690c803ab37de0324772964100169ec8ba1fa3f7e94291c9ca673f40f362"


def file_sha256(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest_dir: str, sha256: str | None = None) -> str:
    """Download ``url`` into ``dest_dir`` with a progress bar (resumes nothing, writes atomically).

    Args:
        url: Source URL.
        dest_dir: Folder for the archive.
        sha256: Expected checksum, verified when given.

    Returns:
        Path of the downloaded file. An archive already there is re-used only when its checksum matches (so a file
        left by an interrupted or corrupted download is never extracted); otherwise it is named in the error.

    Raises:
        ValueError: The checksum does not match.
    """
    os.makedirs(dest_dir, exist_ok=True)
    path = osp.join(dest_dir, osp.basename(url.split("?")[0]))
    if osp.isfile(path):
        if sha256 and (got := file_sha256(path)) != sha256:
            raise ValueError(f"{path} exists but its sha256 is {got}, expected {sha256}: delete it to download again")
        return path
    tmp = path + ".part"
    digest = hashlib.sha256()
    with urllib.request.urlopen(url) as response, open(tmp, "wb") as f:  # noqa: S310 - user-requested download
        total = int(response.headers.get("Content-Length", 0)) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=osp.basename(path)) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
    if sha256 and digest.hexdigest() != sha256:
        os.remove(tmp)
        raise ValueError(f"Checksum mismatch for {url}: got {digest.hexdigest()}, expected {sha256}")
    os.replace(tmp, path)
    return path


def extract(archive: str, dest_dir: str) -> None:
    """Extract a tar archive (``.tar``, ``.tar.xz``, ``.tar.gz``) safely (no paths outside ``dest_dir``)."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest_dir, filter="data")


def visa_to_mvtec(visa_root: str, out_root: str, split_file: str = "split_csv/1cls.csv") -> dict[str, int]:
    """Write VisA (raw layout + split csv) in the MVTec AD layout, as anomalib's ``visa_pytorch`` does.

    ``<out>/<cls>/train/good``, ``<out>/<cls>/test/{good,bad}``, ``<out>/<cls>/ground_truth/bad/<stem>_mask.png``
    with masks binarised (region ids != 0 -> 255). Images are copied unchanged. Class names and file stems come
    from the split csv, so each becomes a :func:`~gen3d.runtime.paths.safe_component`: nothing is written outside
    ``out_root``.

    Args:
        visa_root: The raw VisA root (holding ``candle/``, ..., ``split_csv/``).
        out_root: Output folder.
        split_file: The split csv relative to ``visa_root``.

    Returns:
        ``{cls_name: number of images written}``.
    """
    from .visa import VisADataset

    counts: dict[str, int] = {}
    for split in ("train", "test"):
        dataset = VisADataset(visa_root, split=split, split_file=split_file, val_ratio=0.0, serialize_data=False)
        for index in tqdm(range(len(dataset)), desc=f"VisA {split}"):
            info = dataset.get_data_info(index)
            defect = "good" if info["gt_label"] == 0 else "bad"
            stem, ext = osp.splitext(osp.basename(str(info["img_path"]).replace("\\", "/")))
            stem, ext = safe_component(stem), ext if ext[1:].isalnum() else ".png"
            folder = safe_makedirs(out_root, info["cls_name"], split, defect)
            shutil.copyfile(info["img_path"], osp.join(folder, stem + ext))
            if defect == "bad" and info.get("mask_path"):
                mask = cv2.imread(info["mask_path"], cv2.IMREAD_UNCHANGED)
                if mask is None:
                    raise ValueError(f"Cannot read VisA mask {info['mask_path']}")
                mask_dir = safe_makedirs(out_root, info["cls_name"], "ground_truth", "bad")
                binary = (np.asarray(mask).reshape(mask.shape[:2] + (-1,)).max(-1) != 0).astype(np.uint8) * 255
                cv2.imwrite(osp.join(mask_dir, f"{stem}_mask.png"), binary)
            counts[info["cls_name"]] = counts.get(info["cls_name"], 0) + 1
    return counts
