"""VisA -> MVTec layout conversion (offline, on the synthetic raw VisA tree)."""

import cv2
import numpy as np

from gen3d.datasets.anomaly.convert import visa_to_mvtec
from gen3d.datasets.anomaly.mvtec import MVTecDataset
from gen3d.datasets.anomaly.visa import VisADataset
from tests.helpers.anomaly_data import make_visa_tree


def test_visa_converted_tree_loads_as_mvtec_with_same_counts(tmp_path):
    raw = make_visa_tree(tmp_path / "visa")
    out = tmp_path / "visa_mvtec"
    counts = visa_to_mvtec(str(raw), str(out))
    assert counts and all(n > 0 for n in counts.values())
    for split in ("train", "test"):
        src = VisADataset(str(raw), split=split, val_ratio=0.0)
        dst = MVTecDataset(str(out), split=split, val_ratio=0.0)
        assert len(src) == len(dst)
        assert sorted(d["gt_label"] for d in src) == sorted(d["gt_label"] for d in dst)
    masks = list(out.rglob("*_mask.png"))
    assert masks
    values = set(np.unique(cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)))
    assert values <= {0, 255} and 255 in values


def test_download_verifies_checksums_of_new_and_existing_archives(tmp_path):
    """A local file:// source (no network): the sha256 is checked on download and on an archive already there."""
    import hashlib

    import pytest

    from gen3d.datasets.anomaly.convert import MVTEC_AD_SHA256, MVTEC_AD_URL, download

    src = tmp_path / "src" / "data.tar"
    src.parent.mkdir()
    src.write_bytes(b"archive bytes")
    good = hashlib.sha256(b"archive bytes").hexdigest()
    dest = tmp_path / "downloads"
    with pytest.raises(ValueError, match="Checksum mismatch"):
        download(src.as_uri(), str(dest), sha256="0" * 64)
    assert not any(dest.iterdir())  # nothing half-written is left to be extracted later
    path = download(src.as_uri(), str(dest), sha256=good)
    assert open(path, "rb").read() == b"archive bytes"
    open(path, "wb").write(b"truncated")
    with pytest.raises(ValueError, match=r"data.tar exists but its sha256 is .* delete it"):
        download(src.as_uri(), str(dest), sha256=good)
    assert MVTEC_AD_URL.endswith("f283/download/420938113-1629960298/mvtec_anomaly_detection.tar.xz")
    assert len(MVTEC_AD_SHA256) == 64
