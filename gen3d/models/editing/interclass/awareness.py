"""Channel awareness of a class-conditional generator (InterClassGAN, He et al., arXiv 2203.11173).

The paper defines channel awareness as how a single channel "contributes to the final synthesis" for a class, and
estimates it over latents; its exact formula is unpublished (no code: ``YingqingHe/interclassgan@7c75994``), so the
definition here is pluggable and the default is named and argued below.

Monte-Carlo estimate, with the SAME latents for every class (common random numbers, so class differences are not
latent noise)::

    R[y, l, k] = E_z[ s_k(features_l(z, y), image(z, y)) ]      raw score of channel k of layer l for class y
    A[y, l, k] = R[y, l, k] / mean_y' R[y', l, k]               class specificity (default awareness)

Where: by default at the generator's ``awareness_layers`` (:func:`default_layers`): for ``BigGANGenerator`` every
CCBN + ReLU activation ``h = ReLU(CCBN(x, y))``, ``'block{b}.act1'`` and ``'block{b}.act2'``, the channels the paper
studies ("CCBN followed by ReLU in BigGAN", Sec. 3). Any of ``generator.layer_names`` is selectable with
``layers=``, e.g. ``generator.block_layer_names`` (``'fc'`` and the block outputs after the residual sum, this
module's default before issue #14).

Registered raw scores ``s`` (:data:`AWARENESS_FNS`, per sample and channel, on the generator's per-layer features
``h [N, C_l, H_l, W_l]`` after ``layer_hook``):

* ``'grad_x_activation'`` (DEFAULT): ``|sum_hw (d <r, G> / d h_k) * h_k|`` with a fresh ``r ~ N(0, I)`` of the image's
  shape per sample. Since ``E_r |r . v| = sqrt(2 / pi) ||v||``, its mean over z is proportional to
  ``E_z ||J_k h_k||``: the first-order change of the synthesised image when channel k is zeroed. It is a
  contribution to the final synthesis, the paper's wording (Sec. 1, abstract), costing one backward per batch
  instead of one forward per channel (:func:`ablation_scores` computes the exact ablation for checks).
* ``'mean_activation'``: ``mean_hw ReLU(h_k)`` (how strongly the channel fires; at the CCBN + ReLU layers the ReLU
  is a no-op).
* ``'positive_fraction'``: ``mean_hw [h_k > 0]``.

Why the class-specificity normalisation: a raw contribution is high for channels that matter to EVERY class (the
paper's latent-driven channels carrying shared knowledge) and says nothing about class. Dividing by the mean over
classes gives 1 for a class-agnostic channel and ``Y`` for a channel only one of ``Y`` classes uses, so "a subset of
channels per class" (the paper's first finding) becomes the measurable statement "few channels have ``A >= tau``"
(:mod:`.findings`), and two classes share a channel when both have high ``A`` on it. ``R`` is kept as ``raw``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["AWARENESS_FNS", "DEFAULT_AWARENESS", "ChannelAwareness", "ablation_scores", "channel_awareness",
           "check_class_generator", "check_layers", "default_layers", "register_awareness"]

DEFAULT_AWARENESS = "grad_x_activation"
EPS = 1e-12
# scores(features {layer: [N, C, H, W]}, image [N, 3, R, R], rng) -> {layer: [N, C]}
AwarenessFn = Callable[[dict[str, Tensor], Tensor, torch.Generator], dict[str, Tensor]]
AWARENESS_FNS: dict[str, AwarenessFn] = {}


def register_awareness(name: str, needs_grad: bool = False) -> Callable[[AwarenessFn], AwarenessFn]:
    """Register an awareness score under ``name`` (``needs_grad``: run the generator with autograd)."""
    def wrap(fn: AwarenessFn) -> AwarenessFn:
        fn.needs_grad = needs_grad
        AWARENESS_FNS[name] = fn
        return fn
    return wrap


@register_awareness("grad_x_activation", needs_grad=True)
def grad_x_activation(features: dict[str, Tensor], image: Tensor, rng: torch.Generator) -> dict[str, Tensor]:
    """``|sum_hw (d <r, image> / d h) * h|`` ``[N, C]`` per layer, ``r ~ N(0, I)`` (module docstring)."""
    r = torch.randn(image.shape, generator=rng).to(image)
    names = list(features)
    grads = torch.autograd.grad((image * r).sum(), [features[n] for n in names])
    return {n: (g * features[n]).sum((2, 3)).abs().detach() for n, g in zip(names, grads)}


@register_awareness("mean_activation")
def mean_activation(features: dict[str, Tensor], image: Tensor, rng: torch.Generator) -> dict[str, Tensor]:
    """``mean_hw ReLU(h)`` ``[N, C]`` per layer."""
    return {n: h.relu().mean((2, 3)) for n, h in features.items()}


@register_awareness("positive_fraction")
def positive_fraction(features: dict[str, Tensor], image: Tensor, rng: torch.Generator) -> dict[str, Tensor]:
    """``mean_hw [h > 0]`` ``[N, C]`` per layer."""
    return {n: (h > 0).float().mean((2, 3)) for n, h in features.items()}


def check_class_generator(generator: nn.Module) -> int:
    """The number of classes of a class-conditional generator with per-layer features.

    Raises:
        ValueError: ``generator`` without classes (``c_dim == 0``) or without ``layer_names``.
    """
    c_dim = int(getattr(generator, "c_dim", 0) or 0)
    if c_dim < 1:
        raise ValueError(f"generator: channel awareness needs a class-conditional generator, "
                         f"{type(generator).__name__} has c_dim={c_dim}")
    if not hasattr(generator, "layer_names"):
        raise ValueError(f"generator: {type(generator).__name__} has no layer_names (per-layer features needed)")
    return c_dim


def default_layers(generator: nn.Module) -> tuple[str, ...]:
    """The generator's ``awareness_layers`` (BigGAN: its CCBN + ReLU activations, the paper's), else ``layer_names``."""
    return tuple(getattr(generator, "awareness_layers", None) or generator.layer_names)


def check_layers(generator: nn.Module, layers: Sequence[str] | None) -> tuple[str, ...]:
    """``layers`` (None: :func:`default_layers`), validated against ``generator.layer_names``.

    Raises:
        ValueError: An unknown layer name, or an empty list.
    """
    known = tuple(generator.layer_names)
    if layers is None:
        return default_layers(generator)
    layers = tuple(layers)
    bad = [n for n in layers if n not in known]
    if bad or not layers:
        raise ValueError(f"layers: unknown layer names {bad} (known: {list(known)})" if bad else "layers: empty")
    return layers


def check_class(y: int, num_classes: int, name: str = "class_idx") -> int:
    """``y`` as an int in ``[0, num_classes)``; ValueError naming ``name`` otherwise."""
    if isinstance(y, bool) or not isinstance(y, (int, np.integer)) or not 0 <= int(y) < num_classes:
        raise ValueError(f"{name}: class index must be in [0, {num_classes}), got {y!r}")
    return int(y)


@dataclass
class ChannelAwareness:
    """Awareness ``A[y, l, k]`` and raw scores ``R[y, l, k]``, one ``(Y, C_l)`` array per layer (module docstring)."""

    awareness: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    definition: str = DEFAULT_AWARENESS
    normalisation: str = "class_specificity"
    num_samples: int = 0
    seed: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def layers(self) -> tuple[str, ...]:
        """Layer names, in generator order."""
        return tuple(self.awareness)

    @property
    def num_classes(self) -> int:
        """``Y``."""
        return next(iter(self.awareness.values())).shape[0]

    def flat(self, raw: bool = False) -> np.ndarray:
        """All layers' channels side by side, ``(Y, sum_l C_l)``."""
        src = self.raw if raw else self.awareness
        return np.concatenate([src[n] for n in self.layers], axis=1)

    def top_channels(self, class_idx: int, layer: str, k: int) -> np.ndarray:
        """Indices of the ``k`` channels of ``layer`` with the highest awareness for ``class_idx``, best first."""
        y = check_class(class_idx, self.num_classes)
        if layer not in self.awareness:
            raise ValueError(f"layer: unknown layer {layer!r} (known: {list(self.layers)})")
        return np.argsort(-self.awareness[layer][y], kind="stable")[: max(0, int(k))]

    def total(self) -> np.ndarray:
        """Total awareness per class ``(Y,)``: the mean over layers and channels of ``A`` (1 = average class).

        For the category-wise evaluation (paper Sec. 5: high total awareness, high quality, low diversity).
        """
        return np.mean([self.awareness[n].mean(1) for n in self.layers], axis=0)

    def save(self, path: str) -> tuple[str, str]:
        """Write ``path`` (``.npz``: ``awareness/<layer>``, ``raw/<layer>``) and ``<path>.json`` (metadata)."""
        if not path.endswith(".npz"):
            path += ".npz"
        arrays = {f"awareness/{n}": a for n, a in self.awareness.items()}
        arrays.update({f"raw/{n}": a for n, a in self.raw.items()})
        np.savez(path, **arrays)
        meta = {"definition": self.definition, "normalisation": self.normalisation, "num_samples": self.num_samples,
                "seed": self.seed, "layers": list(self.layers), "num_classes": self.num_classes, **self.meta}
        with open(path[:-4] + ".json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, default=str)
        return path, path[:-4] + ".json"

    @classmethod
    def load(cls, path: str) -> ChannelAwareness:
        """Read what :meth:`save` wrote (no pickle: ``allow_pickle=False``).

        Raises:
            ValueError: A missing layer or a shape mismatch between the two files.
        """
        if not str(path).endswith(".npz"):
            raise ValueError(f"awareness file must be the .npz written by ChannelAwareness.save, got {path}")
        with open(path[:-4] + ".json", encoding="utf-8") as f:
            meta = json.load(f)
        with np.load(path, allow_pickle=False) as data:
            layers = [str(n) for n in meta.get("layers", [])]
            missing = [n for n in layers for kind in ("awareness", "raw") if f"{kind}/{n}" not in data.files]
            if missing or not layers:
                raise ValueError(f"{path}: layers {missing or 'none'} missing (json lists {layers})")
            aw = {n: data[f"awareness/{n}"].astype(np.float64) for n in layers}
            raw = {n: data[f"raw/{n}"].astype(np.float64) for n in layers}
        if len({a.shape[0] for a in aw.values()}) != 1 or any(aw[n].shape != raw[n].shape for n in layers):
            raise ValueError(f"{path}: inconsistent array shapes")
        extra = {k: v for k, v in meta.items()
                 if k not in ("definition", "normalisation", "num_samples", "seed", "layers", "num_classes")}
        return cls(aw, raw, str(meta.get("definition")), str(meta.get("normalisation")),
                   int(meta.get("num_samples", 0)), int(meta.get("seed", 0)), extra)


def class_specificity(raw: np.ndarray) -> np.ndarray:
    """``R / mean_y R`` of ``(Y, C)`` scores (a channel no class uses gets 1 everywhere)."""
    mean = raw.mean(0, keepdims=True)
    return np.where(mean > EPS, raw / np.maximum(mean, EPS), 1.0)


def _track(name: str, h: Tensor) -> Tensor:
    """Layer hook making a feature differentiable when the generator's weights are frozen (no grad_fn)."""
    return h if h.requires_grad else h.requires_grad_()


def _latents(num: int, z_dim: int, seed: int) -> Tensor:
    return torch.randn(num, z_dim, generator=torch.Generator().manual_seed(int(seed)))


def channel_awareness(generator: nn.Module, num_classes: int | None = None, num_samples: int = 128,
                      layers: Sequence[str] | None = None, awareness_fn: str | AwarenessFn = DEFAULT_AWARENESS,
                      seed: int = 0, batch: int = 32) -> ChannelAwareness:
    """Monte-Carlo channel awareness of every class (module docstring), the generator in eval mode.

    Args:
        generator: Class-conditional generator with ``layer_names``, ``c_dim``, ``z_dim`` and
            ``forward(z, c, return_features=True, layer_hook=...)`` (e.g. ``BigGANGenerator``).
        num_classes: Classes to score, ``0 .. num_classes - 1``; None: all ``c_dim`` (must be >= 2: the
            specificity compares classes).
        num_samples: Latents per class (the same latents for every class).
        layers: Feature layers, any of ``generator.layer_names`` (None: :func:`default_layers`, BigGAN's CCBN + ReLU
            activations; ``generator.block_layer_names`` gives the block outputs).
        awareness_fn: A name in :data:`AWARENESS_FNS` or a callable
            ``(features {layer: [N, C, H, W]}, image [N, C_img, R, R], rng) -> {layer: [N, C]}`` (set
            ``fn.needs_grad = True`` if it differentiates).
        seed: Seed of the latents and of the random projections.
        batch: Latents per forward pass.

    Returns:
        :class:`ChannelAwareness` with ``awareness`` (class specificity) and ``raw`` (mean scores), ``(Y, C_l)``.

    Raises:
        ValueError: An unconditional generator, ``num_classes`` out of ``[2, c_dim]``, an unknown layer or
            awareness name, or ``num_samples`` / ``batch`` < 1.
    """
    c_dim = check_class_generator(generator)
    num_classes = c_dim if num_classes is None else int(num_classes)
    if not 2 <= num_classes <= c_dim:
        raise ValueError(f"num_classes must be in [2, {c_dim}] (the generator's c_dim), got {num_classes}")
    layers = check_layers(generator, layers)
    if int(num_samples) < 1 or int(batch) < 1:
        raise ValueError(f"num_samples and batch must be >= 1, got {num_samples}, {batch}")
    if isinstance(awareness_fn, str):
        if awareness_fn not in AWARENESS_FNS:
            raise ValueError(f"awareness_fn: unknown {awareness_fn!r}; registered: {sorted(AWARENESS_FNS)}")
        name, fn = awareness_fn, AWARENESS_FNS[awareness_fn]
    else:
        name, fn = getattr(awareness_fn, "__name__", "custom"), awareness_fn
    needs_grad = bool(getattr(fn, "needs_grad", False))
    device = next(generator.parameters()).device
    z_all = _latents(int(num_samples), int(generator.z_dim), seed).to(device)
    was_training = generator.training
    generator.eval()
    sums: dict[str, np.ndarray] = {}
    try:
        for y in range(num_classes):
            rng = torch.Generator().manual_seed(int(seed) + 1)  # the same projections for every class, as z
            for start in range(0, len(z_all), int(batch)):
                z = z_all[start:start + int(batch)]
                c = torch.zeros(len(z), c_dim, device=device)
                c[:, y] = 1
                with torch.set_grad_enabled(needs_grad):
                    out = generator(z, c, return_features=True, layer_hook=_track if needs_grad else None)
                    feats = {n: out.features[n] for n in layers}
                    scores = fn(feats, out.image, rng)
                for n in layers:
                    s = scores[n].detach().double().sum(0).cpu().numpy()
                    sums.setdefault(n, np.zeros((num_classes, s.shape[0])))[y] += s
    finally:
        generator.train(was_training)
    raw = {n: sums[n] / len(z_all) for n in layers}
    return ChannelAwareness({n: class_specificity(r) for n, r in raw.items()}, raw, name, "class_specificity",
                            int(num_samples), int(seed))


@torch.no_grad()
def ablation_scores(generator: nn.Module, z: Tensor, c: Tensor, layer: str) -> np.ndarray:
    """Exact ablation contribution ``sqrt(2 / pi) E_z ||G(z, c) - G_{h_k = 0}(z, c)||`` ``(C_l,)`` per channel.

    One forward per channel of ``layer``: a check of ``'grad_x_activation'``, its first-order estimate (whose mean
    carries the same ``sqrt(2 / pi)``).
    """
    check_class_generator(generator)
    (layer,) = check_layers(generator, [layer])
    base = generator(z, c).image
    num_ch = generator(z, c, return_features=True).features[layer].shape[1]
    out = np.zeros(num_ch)
    for k in range(num_ch):
        def hook(name: str, h: Tensor, k: int = k) -> Tensor:
            if name != layer:
                return h
            h = h.clone()
            h[:, k] = 0
            return h
        diff = generator(z, c, layer_hook=hook).image - base
        out[k] = float(diff.flatten(1).norm(dim=1).mean())
    return out * math.sqrt(2 / math.pi)
