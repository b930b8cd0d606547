"""The parity gates of every family (gen3d.deploy.parity): ties are reported, tampered outputs fail each check.

Anomaly: task-level (label flips next to the threshold reported, flips away from it fail, AUROC drop) and fp32 (ties
at the threshold); segmentation: logits and label maps; generation: images and maps at every psi; the shared
batched run and the TensorRT engine gates (with a stand-in engine runner).
"""

import numpy as np
import pytest
import torch
from torch import nn

from gen3d.deploy.gan_wrapper import GeneratorEnd2End
from gen3d.deploy.parity import (
    FP32_ATOL,
    EvalSet,
    ParityError,
    anomaly_engine_parity,
    batched_outputs,
    check_gan_parity,
    check_seg_parity,
    check_task_parity,
    gate_backend,
    seg_engine_parity,
)
from gen3d.models.gans.generator_output import GeneratorOutput


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


def test_batched_outputs_slices_feeds_feeds_fixed_inputs_whole_and_keeps_named_outputs():
    calls = []

    def run(feeds):
        calls.append({k: v.shape for k, v in feeds.items()})
        return {"y": feeds["x"] * feeds["k"], "n": np.array([len(feeds["x"])])}

    x, k = np.arange(10.0).reshape(5, 2), np.array([2.0])
    out = batched_outputs(run, {"x": x}, 2, fixed={"k": k})
    assert np.array_equal(out["y"], 2 * x) and out["n"].tolist() == [2, 2, 1]
    assert calls == [{"x": (2, 2), "k": (1,)}] * 2 + [{"x": (1, 2), "k": (1,)}]
    assert list(batched_outputs(run, {"x": x}, 4, fixed={"k": k}, names=["y"])) == ["y"]


def test_segmentation_logit_gate_is_relative_to_the_logit_scale_and_fails_tampered_logits():
    rng = np.random.default_rng(0)
    ref = rng.normal(0, 1, (2, 3, 4, 5)).astype(np.float32)
    ref[:, 0] += 10.0  # every pixel decided (class 0), the logit scale ~12
    scale = float(np.abs(ref).max())
    within = ref + np.float32(0.5 * FP32_ATOL * scale)  # above 1e-4 absolute, inside the scaled gate
    result = check_seg_parity(ref, {"seg_logits": within})
    assert result["logit_scale"] == pytest.approx(scale) and result["logit_gate"] == pytest.approx(FP32_ATOL * scale)
    assert result["label_agreement"] == 1.0 and result["max_abs_diff_seg_logits"] > FP32_ATOL
    tampered = ref.copy()
    tampered[1, 2, 3, 4] += 2 * FP32_ATOL * scale  # labels unchanged, one logit outside the gate
    with pytest.raises(ParityError, match=r"fp32 vs PyTorch parity FAILED on 2 images: max \|diff\| logits"):
        check_seg_parity(ref, {"seg_logits": tampered})
    labels = ref.argmax(1).astype(np.uint8)
    assert check_seg_parity(ref, {"label_map": labels})["pixels_differing"] == 0
    labels[0, 0, 0] = 1  # a decided pixel relabelled
    with pytest.raises(ParityError, match="label-map agreement 0.975"):
        check_seg_parity(ref, {"label_map": labels})


def test_generator_image_gate_uint8_float_and_shape():
    ref = np.full((2, 4, 4, 3), 100, np.uint8)
    off_by_one = ref.copy()
    off_by_one[0, 0, 0, 0] = 101  # a value on a rounding boundary: accepted
    result = check_gan_parity(ref, off_by_one)
    assert result["max_abs_diff"] == 1 and result["gate"] == 1 and result["pixels_differing"] == 1
    tampered = off_by_one.copy()
    tampered[1, 3, 3, 2] = 98
    with pytest.raises(ParityError, match=r"max \|diff\| 2 \(gate 1, grey levels\), 2 value\(s\) differ"):
        check_gan_parity(ref, tampered)
    floats = np.linspace(-30, 30, 2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    assert check_gan_parity(floats, floats + np.float32(1e-3))["gate"] == pytest.approx(FP32_ATOL * 30)
    with pytest.raises(ParityError, match="float"):
        check_gan_parity(floats, floats + np.float32(1e-2))
    with pytest.raises(ParityError, match="output shape"):
        check_gan_parity(ref, ref[:1])


class _ToyGenerator(nn.Module):
    """The generator interface at its smallest: 4-d latents -> a 2x2 grey image and a 2x2 depth map."""

    z_dim, c_dim, pose_dim, img_resolution, img_channels = 4, 0, 0, 2, 1

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 8)

    def forward(self, z, c=None, pose=None, *, truncation_psi=1.0, truncation_cutoff=None, noise_mode="random",
                update_w_avg=False):
        x = self.fc(z * truncation_psi)
        return GeneratorOutput(torch.tanh(x[:, :4]).view(-1, 1, 2, 2), depth=x[:, 4:].reshape(-1, 1, 2, 2))


def _generator_runner(gen, tamper=None):
    """A backend that is the exported wrapper itself, run in PyTorch; ``tamper(outputs)`` changes its outputs."""
    wrapper = GeneratorEnd2End(gen, "uint8").eval()

    def run(feeds):
        args = [torch.from_numpy(feeds[n]) for n in wrapper.input_names]
        with torch.no_grad():
            out = {name: m.numpy().copy() for name, m in zip(wrapper.output_names(args), wrapper(*args))}
        if tamper:
            tamper(out)
        return out

    return run


def test_generator_gate_runs_every_psi_and_fails_a_tampered_image_or_map():
    torch.manual_seed(0)
    gen = _ToyGenerator().eval()
    result = gate_backend(_generator_runner(gen), gen, "uint8", (1.0, 0.7), n=6, batch_size=4)
    assert result["max_abs_diff"] == 0 and result["images"] == 12 and list(result["per_psi"]) == ["psi=1", "psi=0.7"]
    assert result["per_psi"]["psi=0.7"]["maps"]["depth"]["max_abs_diff"] == 0

    def brighter(out):
        out["image"][0, 0, 0, 0] = (int(out["image"][0, 0, 0, 0]) + 3) % 256

    with pytest.raises(ParityError, match=r"onnxruntime fp32 \(psi 1\) vs PyTorch parity FAILED on 6 images"):
        gate_backend(_generator_runner(gen, brighter), gen, "uint8", (1.0, 0.7), n=6, batch_size=4)

    def deeper(out):
        out["depth"][-1] += 1e-2

    with pytest.raises(ParityError, match=r"onnxruntime fp32 depth \(psi 1\)"):
        gate_backend(_generator_runner(gen, deeper), gen, "uint8", (1.0,), n=6, batch_size=4)


def test_engine_gates_run_the_engine_in_batches_and_fail_tampered_outputs(monkeypatch):
    """The TensorRT gates of anomaly and segmentation, with a stand-in for the runtime's engine backend (no GPU)."""
    import gen3d.runtime.trt_backend as trt_backend

    seen = []

    def stand_in(outputs, tamper=None):
        class Engine:  # TrtBackend(engine_path, manifest).run(feeds): the next rows of `outputs`
            def __init__(self, path, manifest):
                seen.append(("open", path, manifest))
                self.done = 0

            def run(self, feeds):
                seen.append({k: len(v) for k, v in feeds.items()})
                n = len(next(iter(feeds.values())))
                out = {k: v[self.done:self.done + n].copy() for k, v in outputs.items()}
                self.done += n
                return tamper(out) if tamper else out

        return Engine

    scores = np.linspace(0.05, 0.95, 8).astype(np.float32)
    ref = {"pred_score": scores, "pred_label": (scores >= 0.5).astype(np.uint8)}
    data = EvalSet(np.zeros((8, 2, 2, 3), np.uint8), np.zeros(8, np.int64), np.repeat([0, 1], 4))
    thr = {"image_threshold": np.ones(1, np.float32), "pixel_threshold": np.ones(1, np.float32)}
    inputs = [{"name": "image"}]
    monkeypatch.setattr(trt_backend, "TrtBackend", stand_in(ref))
    result = anomaly_engine_parity("e.engine", inputs, data, ref, thr, 4, "fp16")
    assert result["backend"] == "tensorrt fp16" and result["label_agreement"] == 1.0
    assert seen == [("open", "e.engine", {"inputs": inputs})] + [
        {"image": 4, "class_index": 4, "image_threshold": 1, "pixel_threshold": 1}] * 2

    def flip(out):
        out["pred_label"] = 1 - out["pred_label"]
        return out

    monkeypatch.setattr(trt_backend, "TrtBackend", stand_in(ref, flip))
    with pytest.raises(ParityError, match="tensorrt fp16 task-level parity FAILED on 8 images"):
        anomaly_engine_parity("e.engine", inputs, data, ref, thr, 4, "fp16")

    logits = np.zeros((4, 2, 1, 1), np.float32)
    logits[:, 0] = 5.0
    images = np.zeros((4, 1, 1, 3), np.uint8)
    monkeypatch.setattr(trt_backend, "TrtBackend", stand_in({"seg_logits": logits + np.float32(0.1)}))
    result = seg_engine_parity("e.engine", inputs, "image", images, logits, 2, "fp16")
    assert result["backend"] == "tensorrt fp16" and result["logit_gate"] == pytest.approx(5 * 5e-2)
    monkeypatch.setattr(trt_backend, "TrtBackend", stand_in({"seg_logits": logits + np.float32(0.3)}))
    with pytest.raises(ParityError, match="tensorrt fp16 vs PyTorch parity FAILED on 4 images"):
        seg_engine_parity("e.engine", inputs, "image", images, logits, 2, "fp16")
