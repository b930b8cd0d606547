"""Generator parity gates: an exported generator graph against the generator's own PyTorch forward.

The reference is ``generator(z, c, pose, truncation_psi, noise_mode='const')`` on seeded latents (and, for a
3D-aware generator, seeded poses) (:func:`gen3d.deploy.gan_wrapper.reference_maps`), so the graph's truncation is
checked too.

* :func:`check_gan_parity`: float output ``max |diff| <= 1e-4 * max(1, max |ref|)``; uint8 output
  ``max |diff| <= 1`` grey level (a value at a rounding boundary may round either way).
* :func:`gate_backend`: runs a backend at each truncation psi (fed as the graph input) and gates the image, and the
  depth, normal and mask maps of a 3D-aware generator with the float gate.

A failure raises :class:`~gen3d.deploy.parity.common.ParityError` with the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from .common import FP32_ATOL, Runner, batched_outputs, parity_failure, relative_gate

FP32_IMAGE_ATOL = FP32_ATOL
"""Largest accepted ``|float image diff| / max(1, max |ref|)`` of the fp32 gate."""
UINT8_IMAGE_ATOL = 1
"""Largest accepted uint8 difference (grey levels) of the fp32 gate."""


def check_gan_parity(ref: np.ndarray, out: np.ndarray, what: str = "onnxruntime fp32",
                     atol: float | None = None) -> dict[str, Any]:
    """Gate a backend's images against the PyTorch reference.

    Args:
        ref: Reference images (uint8 NHWC ``(N, R, R, C)`` or float NCHW ``(N, C, R, R)``), or maps ``(N, C, R, R)``.
        out: Backend images, same shape and dtype kind.
        what: Backend name for the message.
        atol: Gate; None is :data:`UINT8_IMAGE_ATOL` for uint8 and ``FP32_IMAGE_ATOL * max(1, max |ref|)``
            for float images.

    Returns:
        ``{'backend', 'images', 'max_abs_diff', 'gate', 'pixels_differing'}``.

    Raises:
        ParityError: Shapes differ or the difference exceeds the gate; the message holds the numbers.
    """
    if ref.shape != out.shape:
        raise parity_failure(what, f"output shape {out.shape} != reference {ref.shape}")
    is_uint8 = ref.dtype == np.uint8
    if atol is None:
        atol = UINT8_IMAGE_ATOL if is_uint8 else relative_gate(ref, FP32_IMAGE_ATOL)[1]
    diffs = np.abs(ref.astype(np.float64) - out.astype(np.float64))
    diff = float(diffs.max(initial=0.0))
    result = {"backend": what, "images": int(len(ref)), "max_abs_diff": diff, "gate": float(atol),
              "pixels_differing": int((diffs > 0).sum())}
    if not np.isfinite(diff) or diff > atol:
        raise parity_failure(what, f"max |diff| {diff:.3g} (gate {atol:.3g}, {'grey levels' if is_uint8 else 'float'}),"
                             f" {result['pixels_differing']} value(s) differ", result["images"])
    return result


def gate_backend(run: Runner, generator: nn.Module, output: str, psis: Sequence[float], n: int = 16,
                 batch_size: int = 8, truncation_cutoff: int | None = None,
                 what: str = "onnxruntime fp32") -> dict[str, Any]:
    """Run the gate at each truncation psi (fed as the graph input); returns the worst case and every psi's result.

    The image is gated as :func:`check_gan_parity` says; the other maps a generator outputs (depth, normal, mask of
    a 3D-aware generator, at the fed seeded poses) with the float gate, reported under ``per_psi[...]['maps']``.

    Args:
        run: The backend (``feeds -> {output: array}``).
        generator: The exported generator (the interface of :mod:`gen3d.models.gans.generator_output`).
        output: ``'uint8'`` or ``'float'`` image output of the graph.
        psis: Truncation psi values; psi ``k`` uses the latents of seed ``k``.
        n: Latents per psi.
        batch_size: Latents per call (the static batch of a static graph).
        truncation_cutoff: The graph's truncation cutoff (the reference uses the same).
        what: Backend name for the messages.

    Returns:
        ``{'backend', 'images', 'max_abs_diff', 'gate', 'per_psi'}``: the worst psi's difference and gate.

    Raises:
        ParityError: At the first psi (or map) that fails.
    """
    from ..gan_wrapper import example_feeds, reference_maps  # gan_wrapper imports gen3d.models (heavy)

    per_psi = {}
    for k, psi in enumerate(psis):
        feeds = example_feeds(generator, n, psi, seed=k)
        ref = reference_maps(generator, feeds, output, truncation_cutoff, batch_size)
        sliced = {name: v for name, v in feeds.items() if name != "truncation_psi"}
        got = batched_outputs(run, sliced, batch_size, {"truncation_psi": feeds["truncation_psi"]}, names=list(ref))
        per_psi[f"psi={psi:g}"] = check_gan_parity(ref["image"], got["image"], f"{what} (psi {psi:g})")
        maps = {name: check_gan_parity(ref[name], got[name], f"{what} {name} (psi {psi:g})") for name in ref
                if name != "image"}
        if maps:
            per_psi[f"psi={psi:g}"]["maps"] = maps
    worst = max(per_psi.values(), key=lambda r: r["max_abs_diff"] / r["gate"] if r["gate"] else r["max_abs_diff"])
    return {"backend": what, "images": n * len(psis), "max_abs_diff": worst["max_abs_diff"], "gate": worst["gate"],
            "per_psi": per_psi}
