"""Task-level parity gate: label flips next to the threshold are reported, flips away from it fail."""

import numpy as np
import pytest

from gen3d.deploy.parity import ParityError, check_task_parity


def _outputs(scores):
    scores = np.asarray(scores, np.float32)
    return {"pred_score": scores, "pred_label": (scores >= 0.5).astype(np.uint8)}


def test_near_threshold_flips_are_reported_not_gated():
    labels = np.array([0, 0, 0, 1, 1, 1])
    ref = _outputs([0.10, 0.4999, 0.30, 0.5002, 0.80, 0.90])
    out = _outputs([0.11, 0.5003, 0.31, 0.4998, 0.79, 0.91])  # two flips, both within 0.001 of the threshold
    result = check_task_parity(ref, out, labels, max_auroc_drop=0.5)
    assert result["label_agreement"] == pytest.approx(4 / 6)
    assert result["label_agreement_outside_margin"] == 1.0 and result["near_threshold_flips"] == 2
    with pytest.raises(ParityError, match="label agreement"):  # no margin: the strict gate
        check_task_parity(ref, out, labels, max_auroc_drop=0.5, label_margin=0.0)


def test_flip_away_from_the_threshold_fails():
    labels = np.array([0, 0, 1, 1])
    ref = _outputs([0.10, 0.46, 0.70, 0.90])
    out = _outputs([0.10, 0.52, 0.70, 0.90])  # 0.46 -> 0.52: outside the default 0.01 band
    with pytest.raises(ParityError, match="0.7500 away from the threshold"):
        check_task_parity(ref, out, labels, max_auroc_drop=0.5)
    result = check_task_parity(ref, out, labels, max_auroc_drop=0.5, min_label_agreement=0.75)
    assert result["near_threshold_flips"] == 0


def test_auroc_drop_still_gated():
    labels = np.array([0, 0, 1, 1])
    ref = _outputs([0.1, 0.2, 0.8, 0.9])
    out = _outputs([0.1, 0.85, 0.8, 0.9])  # same labels for 3 of 4, AUROC 1.0 -> 0.5
    with pytest.raises(ParityError, match="image AUROC"):
        check_task_parity(ref, out, labels, min_label_agreement=0.0)


def test_segmentation_gate_reports_ties_and_fails_real_flips():
    from gen3d.deploy.segmentation_bundle import check_seg_parity

    ref = np.zeros((1, 2, 1, 3), np.float32)
    ref[0, :, 0, 0] = [1.0, 0.0]  # decided
    ref[0, :, 0, 1] = [0.5, 0.5 + 1e-6]  # a tie within the logit tolerance
    ref[0, :, 0, 2] = [0.0, 2.0]  # decided
    tie_flip = ref.copy()
    tie_flip[0, 1, 0, 1] = 0.5 - 1e-6
    result = check_seg_parity(ref, {"seg_logits": tie_flip})
    assert result["label_agreement"] == 1.0 and result["tie_pixels_differing"] == 1
    real_flip = ref.copy()
    real_flip[0, 0, 0, 2] = 3.0
    with pytest.raises(ParityError):
        check_seg_parity(ref, {"label_map": real_flip.argmax(1)})
