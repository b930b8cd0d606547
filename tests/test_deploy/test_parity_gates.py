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


def _fp32_outputs(scores, maps):
    """End2end-like outputs: normalised score / map, labels and masks decided at 0.5."""
    scores, maps = np.asarray(scores, np.float32), np.asarray(maps, np.float32)
    return {"pred_score": scores, "pred_label": (scores >= 0.5).astype(np.uint8),
            "anomaly_map": maps, "pred_mask": (maps >= 0.5).astype(np.uint8)}


def _fp32_pair():
    maps = np.tile(np.float32([[0.1, 0.9]]), (3, 1, 1))  # (3, 1, 2): every pixel far from the threshold
    ref = _fp32_outputs([0.5 + 1e-7, 0.2, 0.8], maps)
    out = _fp32_outputs([0.2, 0.2 + 5e-7, 0.8 - 5e-7], maps + np.float32(5e-7))  # score / map error 5e-7
    return ref, out


def test_fp32_label_flip_at_the_threshold_is_a_tie():
    from gen3d.deploy.parity import check_fp32_parity

    ref, out = _fp32_pair()
    out["pred_score"][0], out["pred_label"][0] = 0.5 - 4e-7, 0  # 1e-7 above the threshold -> just below
    result = check_fp32_parity(ref, out)
    assert result["label_flips"] == 0 and result["tie_labels_differing"] == 1
    assert not result["labels_identical"]
    assert result["tie_label_distances"] == [pytest.approx(1e-7, rel=0.5)]
    assert result["label_tie_band"] == pytest.approx(1e-6, rel=0.1)  # 2 x the ~5e-7 score error (fp32)


def test_fp32_label_flip_away_from_the_threshold_fails():
    from gen3d.deploy.parity import check_fp32_parity

    ref, out = _fp32_pair()
    out["pred_score"][0] = 0.5 - 4e-7
    out["pred_label"][1] = 1  # PyTorch score 0.2: 0.3 from the threshold, the score error is 5e-7
    with pytest.raises(ParityError, match="1 image label"):
        check_fp32_parity(ref, out)
    ref["pred_score"][1] = 0.4  # 0.1 from the threshold
    with pytest.raises(ParityError, match="1 image label"):
        check_fp32_parity(ref, out)


def test_fp32_mask_pixel_ties_reported_real_flips_fail():
    from gen3d.deploy.parity import check_fp32_parity

    ref, out = _fp32_pair()
    out["pred_score"][0], out["pred_label"][0] = ref["pred_score"][0], 1
    ref["anomaly_map"][0, 0, 0] = 0.5 + 1e-7
    ref["pred_mask"][0, 0, 0] = 1
    out["anomaly_map"][0, 0, 0] = 0.5 - 1e-7  # within the map error of the pixel threshold
    result = check_fp32_parity(ref, out)
    assert result["mask_pixels_differing"] == 1 and result["tie_mask_pixels_differing"] == 1
    assert result["mask_pixel_flips"] == 0 and result["labels_identical"]
    out["pred_mask"][1, 0, 1] = 0  # PyTorch map 0.9: a real flip
    with pytest.raises(ParityError, match="1 mask pixel"):
        check_fp32_parity(ref, out)


def test_paired_auroc_difference_matches_a_bootstrap_and_resolves_one_swap():
    """DeLong's standard error of the paired drop agrees with a paired bootstrap; one swapped pair is resolved."""
    from gen3d.deploy.parity import binary_auroc, paired_auroc_difference

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 128)
    ref = rng.normal(labels * 1.0, 1.0)
    out = ref + rng.normal(0, 0.3, ref.shape)  # a noisier backend on the same images
    res = paired_auroc_difference(labels, ref, out)
    assert res["drop"] == pytest.approx(binary_auroc(labels, ref) - binary_auroc(labels, out))
    boots = []
    for _ in range(300):
        idx = np.concatenate([rng.choice(128, 128), 128 + rng.choice(128, 128)])
        boots.append(binary_auroc(labels[idx], ref[idx]) - binary_auroc(labels[idx], out[idx]))
    assert res["drop_se"] == pytest.approx(np.std(boots), rel=0.25) and res["drop_se"] > 0
    assert res["drop_ci95"][0] < res["drop"] < res["drop_ci95"][1]
    assert res["auroc_resolution"] == pytest.approx(1 / 128**2)
    same = paired_auroc_difference(labels, ref, ref.copy())
    assert same["drop"] == 0 and same["drop_se"] == 0


def test_task_gate_reports_the_drop_with_its_interval():
    labels = np.repeat([0, 1], 8)
    scores = np.linspace(0.05, 0.95, 16)
    ref, out = _outputs(scores), _outputs(scores)
    out["pred_score"][[7, 8]] = out["pred_score"][[8, 7]]  # one normal/defect pair swapped at the threshold
    result = check_task_parity(ref, out, labels, max_auroc_drop=0.02, min_label_agreement=0.0)
    assert result["auroc_drop"] == pytest.approx(1 / 64) and result["auroc_resolution"] == pytest.approx(1 / 64)
    assert result["auroc_drop_ci95"][1] > result["auroc_drop"] and not result["drop_within_gate_at_95"]
    with pytest.raises(ParityError, match=r"95 % interval \[.*one swapped pair 0.016"):
        check_task_parity(ref, out, labels, max_auroc_drop=0.005, min_label_agreement=0.0)
