"""Anomaly parity gates: an exported end2end / raw graph or TensorRT engine against the unmodified PyTorch model.

Evaluation images come from the model config's **validation** split (normal images only, the split the
thresholds were fitted on), topped up with training normals where it holds fewer than the set size (the anomaly
bundles: :func:`load_eval_set`'s ``top_up_split``). Each is also given one synthetic defect
(:func:`gen3d.datasets.anomaly_synthesis.synthesize_defect`, seeded), so that the set has both labels and the
gates see decisions on both sides of the threshold without ever touching the test split.

* fp32 gate (:func:`check_fp32_parity`): ``max |anomaly_map_torch - anomaly_map_onnx| <= 1e-4`` on the
  normalised map, and identical image labels (``pred_label``) and mask pixels (``pred_mask``) except **ties**:
  decisions whose PyTorch value is within twice the measured fp32 error (capped by the 1e-4 tolerance) of the
  threshold, where either side is a correct fp32 rounding. Ties are reported (``tie_labels_differing``,
  ``tie_mask_pixels_differing``), other flips fail.
* task-level gate (:func:`check_task_parity`, for int8 / fp16): the fraction of images with the same label
  ``>= min_label_agreement`` and ``|AUROC_torch - AUROC_backend| <= max_auroc_drop`` for the image score, the
  AUROC measured on the validation normals vs their synthetic-defect copies. Images whose PyTorch score lies
  within ``label_margin`` of the threshold (normalised score 0.5 +- 0.01 by default, i.e. 2 % of the raw
  threshold) are left out of the label count and reported as ``near_threshold_flips``: the thresholds are
  fitted on these very images (a quantile of their scores), so several sit within 0.1 % of the threshold, where
  any reduced-precision rounding decides the label (measured on the demo checkpoint: every int8 flip was at a
  PyTorch score of 0.4999-0.5002, with a mean |score diff| of 0.0023).
  The AUROC drop is reported with its uncertainty (:func:`paired_auroc_difference`: DeLong's variance of the
  difference of two correlated AUROCs on the same images, a 95 % interval, and the set's resolution, one
  swapped normal/defect pair = ``1 / (n_normal * n_defect)``). The decision is on the measured drop; the manifest
  says whether the interval's upper end is inside the gate too (``drop_within_gate_at_95``). The default set is
  :data:`DEFAULT_GATE_IMAGES` normal images plus as many defect copies, where one swapped pair moves AUROC by
  6e-5 (32 images moved it by 0.004, the size of the gate).
* raw graph (:func:`anomaly_raw_parity`): preprocessed float input, ``max |raw map diff| <= 1e-4``.
* TensorRT engine (:func:`anomaly_engine_parity`): the task-level gate, at any precision.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..anomaly_wrapper import normalization_of, reference_outputs
from .common import (
    FP32_ATOL,
    Runner,
    batched_outputs,
    eval_dataset,
    load_rgb,
    max_abs_diff,
    ort_runner,
    parity_failure,
    spread_indices,
    trt_runner,
)

FP32_MAP_ATOL = FP32_ATOL
"""Largest accepted ``|anomaly_map_torch - anomaly_map_backend|`` (normalised map) of the fp32 gates."""
AUROC_TOLERANCE = 0.005
LABEL_MARGIN = 0.01
DEFAULT_GATE_IMAGES = 128  # normal validation images of the anomaly gates (each also gets a defect copy)
Z_95 = 1.959964


@dataclass
class EvalSet:
    """uint8 RGB images ``(N, H, W, 3)``, class indices ``(N,)`` and labels ``(N,)`` (1 = synthetic defect).

    ``normals_from``: how many of the source images each split gave (``{'val': 16, 'train': 112}``).
    """

    images: np.ndarray
    class_index: np.ndarray
    labels: np.ndarray
    normals_from: dict[str, int] = field(default_factory=dict)


def _split_infos(cfg: Mapping, split: str, classes: Sequence[str]) -> list[dict]:
    dataset = eval_dataset(cfg, split)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    return [i for i in infos if i.get("cls_name") in classes]


def load_eval_set(cfg: Mapping, classes: Sequence[str], image_size: Sequence[int], max_images: int = 16,
                  split: str = "val", synthetic_defects: bool = True, seed: int = 0,
                  top_up_split: str | None = None) -> EvalSet:
    """Images of a split of the model config, resized (cv2 bilinear) to ``image_size``, plus defect copies.

    Args:
        cfg: The model's mmengine config (``val_dataloader`` / ``test_dataloader`` with ``data_root`` set).
        classes: Class order of ``class_index``; images of other classes are skipped.
        image_size: ``(H, W)`` of the graph's image input.
        max_images: Normal images kept (spread over the split); the set has up to twice as many.
        split: ``'val'`` or ``'test'``.
        synthetic_defects: Add a synthetic-defect copy of every image (label 1).
        seed: Seed of the defect synthesis.
        top_up_split: Where ``split`` has fewer than ``max_images`` images, fill up with images of this split
            (``'train'``: its good images, spread over it, none that ``split`` already has). A parity gate compares
            two runs of the same model on the same inputs and needs no held-out data; a small validation split
            alone (16 images on the demo set) leaves an AUROC difference with a standard error of 0.02 against a
            gate of 0.005. A split that cannot be read is skipped with a warning (the set is then ``split``'s
            images alone, and ``normals_from`` says so).

    Returns:
        The :class:`EvalSet` (``normals_from`` counts the images of each split).

    Raises:
        ValueError: The split holds no image of ``classes``.
    """
    from gen3d.datasets.anomaly_synthesis import synthesize_defect

    infos = _split_infos(cfg, split, classes)
    if not infos:
        raise ValueError(f"the {split} split of the model config has no image of classes {list(classes)}")
    chosen = [infos[k] for k in spread_indices(len(infos), max_images)]
    normals_from = {split: len(chosen)}
    if top_up_split and len(chosen) < max_images:
        try:
            extra = _split_infos(cfg, top_up_split, classes)
        except Exception as exc:  # e.g. a training set that needs its pipeline to build: the gate runs on `split`
            warnings.warn(f"parity set: the {top_up_split} split could not be read to top up the {split} split's "
                          f"{len(chosen)} normals to {max_images} ({type(exc).__name__}: {exc}); the gate runs "
                          f"on the {split} images alone", stacklevel=2)
            extra = []
        seen = {i["img_path"] for i in chosen}
        extra = [i for i in extra if i["img_path"] not in seen and int(i.get("gt_label", 0)) == 0]
        if extra:
            chosen += [extra[k] for k in spread_indices(len(extra), max_images - len(chosen))]
            normals_from[top_up_split] = len(chosen) - normals_from[split]
    images, cls_idx, labels = [], [], []
    rng = np.random.default_rng(seed)
    for info in chosen:
        img = load_rgb(info["img_path"], image_size)
        variants = [(img, int(info.get("gt_label", 0)))]
        if synthetic_defects:
            variants.append((synthesize_defect(img, rng)[0], 1))
        for image, label in variants:
            images.append(image)
            cls_idx.append(classes.index(info["cls_name"]))
            labels.append(label)
    return EvalSet(np.stack(images), np.asarray(cls_idx, np.int64), np.asarray(labels, np.int64), normals_from)


def binary_auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); ``nan`` when only one class is present."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def _delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components of one scoring; each mean is the AUROC.

    Per defect image, the fraction of normals it outscores (ties one half); per normal image, the fraction of
    defects that outscore it.
    """
    pos, neg = scores[labels == 1], scores[labels == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(1), psi.mean(0)


def paired_auroc_difference(labels: np.ndarray, ref_scores: np.ndarray, out_scores: np.ndarray) -> dict:
    """``AUROC(ref) - AUROC(out)`` on the same images, with its standard error and a 95 % interval.

    The variance is DeLong, DeLong & Clarke-Pearson (1988): the covariance of the structural components of the two
    scorings of the same images.

    Args:
        labels: ``(N,)`` 0 normal / 1 defect.
        ref_scores: ``(N,)`` scores of the reference (PyTorch).
        out_scores: ``(N,)`` scores of the backend on the same images.

    Returns:
        ``drop``, ``drop_se``, ``drop_ci95`` ``[low, high]`` and ``auroc_resolution`` (one swapped pair).
    """
    labels = np.asarray(labels)
    m, n = int((labels == 1).sum()), int((labels == 0).sum())
    if m < 2 or n < 2:
        return dict(drop=float("nan"), drop_se=float("nan"), drop_ci95=[float("nan")] * 2,
                    auroc_resolution=float("nan"))
    v10, v01 = zip(*(_delong_components(labels, np.asarray(s, np.float64)) for s in (ref_scores, out_scores)))
    d10, d01 = v10[0] - v10[1], v01[0] - v01[1]
    drop = float(d10.mean())
    se = float(np.sqrt(d10.var(ddof=1) / m + d01.var(ddof=1) / n))
    return dict(drop=drop, drop_se=se, drop_ci95=[drop - Z_95 * se, drop + Z_95 * se],
                auroc_resolution=1.0 / (m * n))


def torch_outputs(model: nn.Module, data: EvalSet, thresholds: tuple[np.ndarray, np.ndarray],
                  batch_size: int = 8) -> dict[str, np.ndarray]:
    """End2end outputs of the unmodified PyTorch model (:func:`reference_outputs`), batched, as numpy."""
    image_thr, pixel_thr = (torch.as_tensor(t, dtype=torch.float32) for t in thresholds)
    size = data.images.shape[1:3]

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = reference_outputs(model, torch.from_numpy(feeds["image"]), torch.from_numpy(feeds["class_index"]),
                                image_thr, pixel_thr, size)
        return {name: value.numpy() for name, value in out.items()}

    return batched_outputs(run, {"image": data.images, "class_index": data.class_index}, batch_size)


def backend_outputs(run: Runner, data: EvalSet, batch_size: int = 8,
                    extra: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Run an end2end backend over the set in batches (thresholds not fed unless in ``extra``)."""
    return batched_outputs(run, {"image": data.images, "class_index": data.class_index}, batch_size, extra)


def _tie_band(error: float, atol: float) -> float:
    """Half-width of the tie band around the normalised threshold 0.5 (see :func:`check_fp32_parity`)."""
    resolution = float(np.spacing(np.float32(0.5)))  # one fp32 step at the threshold
    error = error if np.isfinite(error) else atol
    return max(2.0 * min(error, atol), resolution)


def _split_flips(ref_norm: np.ndarray, differ: np.ndarray, band: float) -> tuple[np.ndarray, np.ndarray]:
    """``(ties, real)`` boolean masks of the differing decisions, by the PyTorch value's distance to 0.5."""
    distance = np.abs(ref_norm.astype(np.float64) - 0.5)
    tie = differ & (distance <= band)
    return tie, differ & ~tie


def check_fp32_parity(ref: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray], atol: float = FP32_MAP_ATOL,
                      what: str = "onnxruntime fp32") -> dict:
    """Gate: max |diff| of the anomaly map <= ``atol``; no image label nor mask pixel flips except ties.

    A decision that differs is a **tie** when the PyTorch value (normalised ``pred_score`` for an image label,
    normalised ``anomaly_map`` for a mask pixel; the threshold is 0.5 in both) lies within the tie band of 0.5::

        band = max(2 * min(observed max |diff|, atol), spacing(float32(0.5)))

    with the observed max |diff| of ``pred_score`` for labels and of ``anomaly_map`` for masks. Why:

    * two fp32 evaluations of the same graph (PyTorch vs ONNX Runtime kernels, other summation orders) each sit
      within the observed error of the exact value, so a value closer than twice that error to the threshold
      is undecided at fp32: either label is a correct rounding (seen on a deploy: 1 label flipped at a max map
      difference of 5.4e-7, the image's PyTorch score at the threshold);
    * the band is capped by the accepted fp32 error ``atol``: a backend whose scores are off by more than the
      gate accepts does not widen the band, its flips count;
    * the floor is one fp32 step at 0.5, the resolution of the normalised outputs (a tie when both sides agree
      to the last bit but round differently).

    Any other differing decision is a real flip and fails the gate (e.g. a label decided with a wrong threshold
    or class index, or a flip far from the threshold). Ties are reported (``tie_labels_differing`` with
    ``tie_label_distances``, ``tie_mask_pixels_differing``), never gated.

    Args:
        ref: PyTorch outputs (``anomaly_map``, ``pred_label``, ``pred_score``, optionally ``pred_mask``).
        out: Backend outputs with the same names.
        atol: Largest accepted absolute difference of the anomaly map (normalised).
        what: Backend name for the message.

    Returns:
        The measured numbers (for the manifest's ``parity``): ``label_flips`` / ``mask_pixel_flips`` count the
        real (gated) flips, ``labels_identical`` is true only when no label differs at all.

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    diff = max_abs_diff(ref["anomaly_map"], out["anomaly_map"])
    score_diff = max_abs_diff(ref["pred_score"], out["pred_score"])
    differ = ref["pred_label"].astype(np.int64).reshape(-1) != np.asarray(out["pred_label"]).reshape(-1)
    label_band = _tie_band(score_diff, atol)
    ref_score = np.asarray(ref["pred_score"]).reshape(-1)
    ties, real = _split_flips(ref_score, differ, label_band)
    flips = int(real.sum())
    distances = np.abs(ref_score.astype(np.float64) - 0.5)
    result: dict = dict(backend=what, max_abs_diff_anomaly_map=diff, max_abs_diff_pred_score=score_diff,
                        labels_identical=not differ.any(), label_flips=flips, tie_labels_differing=int(ties.sum()),
                        tie_label_distances=[float(d) for d in distances[ties]], label_tie_band=label_band,
                        images=int(len(ref["anomaly_map"])))
    mask_flips = 0
    if "pred_mask" in ref and "pred_mask" in out:
        mask_differ = ref["pred_mask"] != out["pred_mask"]
        mask_band = _tie_band(diff, atol)
        mask_ties, mask_real = _split_flips(ref["anomaly_map"], mask_differ, mask_band)
        mask_flips = int(mask_real.sum())
        result.update(mask_pixels_differing=int(mask_differ.sum()), mask_pixel_flips=mask_flips,
                      tie_mask_pixels_differing=int(mask_ties.sum()), mask_tie_band=mask_band)
    if not np.isfinite(diff) or diff > atol or flips or mask_flips:
        raise parity_failure(what, f"max |diff| anomaly map {diff:.3g} (gate {atol:g}), max |diff| pred_score "
                             f"{score_diff:.3g}, {flips} image label(s) differ away from the threshold (gate 0; "
                             f"{result['tie_labels_differing']} tie(s) within {label_band:.3g} of it not gated), "
                             f"{mask_flips} mask pixel(s) differ away from the pixel threshold (gate 0)",
                             result["images"])
    return result


def check_task_parity(ref: Mapping[str, np.ndarray], out: Mapping[str, np.ndarray], labels: np.ndarray,
                      max_auroc_drop: float = AUROC_TOLERANCE, min_label_agreement: float = 1.0,
                      what: str = "onnxruntime int8", label_margin: float = LABEL_MARGIN) -> dict:
    """Task-level gate for reduced precision: label agreement and image AUROC vs PyTorch.

    Args:
        ref: PyTorch outputs (``pred_label``, ``raw_score`` or ``pred_score``).
        out: Backend outputs (``pred_label``, ``pred_score``).
        labels: Ground truth ``(N,)`` (0 normal, 1 synthetic defect).
        max_auroc_drop: Largest accepted ``AUROC_torch - AUROC_backend`` (a gain always passes).
        min_label_agreement: Smallest accepted fraction of identical labels among the images whose PyTorch
            ``pred_score`` is more than ``label_margin`` away from the threshold (0.5).
        what: Backend name for the message.
        label_margin: Half-width of the band around the threshold (normalised score) left out of the label gate.

    Returns:
        The measured numbers.

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    same = ref["pred_label"].astype(np.int64) == out["pred_label"]
    agree = float(same.mean())
    outside = np.abs(ref["pred_score"].astype(np.float64) - 0.5) > label_margin
    agree_gated = float(same[outside].mean()) if outside.any() else 1.0
    auroc_ref, auroc_out = binary_auroc(labels, ref["pred_score"]), binary_auroc(labels, out["pred_score"])
    drop = auroc_ref - auroc_out
    paired = paired_auroc_difference(labels, ref["pred_score"], out["pred_score"])
    score_diff = max_abs_diff(ref["pred_score"], out["pred_score"])
    result = dict(backend=what, label_agreement=agree, image_auroc_torch=auroc_ref, image_auroc_backend=auroc_out,
                  auroc_drop=drop, auroc_drop_se=paired["drop_se"], auroc_drop_ci95=paired["drop_ci95"],
                  auroc_resolution=paired["auroc_resolution"],
                  drop_within_gate_at_95=bool(paired["drop_ci95"][1] <= max_auroc_drop),
                  max_abs_diff_pred_score=score_diff, images=int(len(labels)),
                  label_margin=label_margin, label_agreement_outside_margin=agree_gated,
                  near_threshold_flips=int((~same & ~outside).sum()),
                  eval_set="validation normals + synthetic-defect copies")
    if agree_gated < min_label_agreement or not np.isfinite(drop) or drop > max_auroc_drop:
        low, high = paired["drop_ci95"]
        raise parity_failure(what, f"label agreement {agree_gated:.4f} away from the threshold (gate >= "
                             f"{min_label_agreement}; {agree:.4f} on all, scores within {label_margin} of it left "
                             f"out), image AUROC {auroc_out:.4f} vs PyTorch {auroc_ref:.4f} (drop {drop:.4f}, 95 % "
                             f"interval [{low:.4f}, {high:.4f}], one swapped pair {paired['auroc_resolution']:.2g}; "
                             f"gate <= {max_auroc_drop}), max |diff| pred_score {score_diff:.3g}", len(labels),
                             "task-level parity")
    return result


def anomaly_raw_parity(model: nn.Module, path: str, eval_set: EvalSet | None) -> dict:
    """Raw-mode gate: preprocessed float input, raw map max |diff| <= 1e-4 (images of the eval set or noise).

    Args:
        model: The anomaly model (``model(x, mode='tensor') -> (raw map, raw score)``).
        path: The raw ONNX graph (input ``input`` ``(N, 3, H, W)`` normalised, at ``model.input_size``).
        eval_set: Images resized and normalised as the model's preprocessing; None: 4 seeded noise inputs.

    Returns:
        The measured numbers (for the manifest's ``parity``).

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    mean, std = normalization_of(model)
    if eval_set is not None:
        x = torch.from_numpy(eval_set.images).permute(0, 3, 1, 2).float()
        x = torch.nn.functional.interpolate(x, size=model.input_size, mode="bilinear", align_corners=False)
        x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    else:
        x = torch.randn(4, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref_map, ref_score = model(x, mode="tensor")
    out = ort_runner(path)({"input": x.numpy()})
    diff, sdiff = max_abs_diff(ref_map.numpy(), out["anomaly_map"]), max_abs_diff(ref_score.numpy(), out["pred_score"])
    result = {"backend": "onnxruntime fp32 (raw)", "max_abs_diff_anomaly_map": diff, "max_abs_diff_pred_score": sdiff,
              "images": int(len(x))}
    if not diff <= FP32_MAP_ATOL:
        raise parity_failure("raw onnxruntime", f"max |diff| anomaly map {diff:.3g} (gate {FP32_MAP_ATOL:g}), "
                             f"pred_score {sdiff:.3g}", len(x))
    return result


def anomaly_engine_parity(engine_path: str, inputs: list[dict], eval_set: EvalSet, ref: Mapping[str, np.ndarray],
                          defaults: Mapping[str, np.ndarray], batch_size: int, precision: str,
                          label_agreement: float = 1.0, auroc_drop: float = AUROC_TOLERANCE,
                          label_margin: float = LABEL_MARGIN) -> dict:
    """Task-level gate of a TensorRT engine (any precision: TF32/FP16/INT8 kernels are not bit-exact).

    Args:
        engine_path: The engine.
        inputs: The manifest's ``inputs``.
        eval_set: The gate images.
        ref: PyTorch outputs on them (:func:`torch_outputs`).
        defaults: The threshold inputs fed with every batch.
        batch_size: Images per call (the static batch of a static engine).
        precision: The engine's precision (for the message).
        label_agreement: ``min_label_agreement`` of :func:`check_task_parity`.
        auroc_drop: ``max_auroc_drop`` of :func:`check_task_parity`.
        label_margin: ``label_margin`` of :func:`check_task_parity`.

    Returns:
        The measured numbers.

    Raises:
        ParityError: With the numbers, when the gate fails.
    """
    out = backend_outputs(trt_runner(engine_path, inputs), eval_set, batch_size=batch_size, extra=defaults)
    return check_task_parity(ref, out, eval_set.labels, max_auroc_drop=auroc_drop, min_label_agreement=label_agreement,
                             what=f"tensorrt {precision}", label_margin=label_margin)
