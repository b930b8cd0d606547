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
