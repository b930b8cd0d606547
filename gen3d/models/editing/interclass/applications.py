"""InterClassGAN's applications (arXiv 2203.11173, Sec. 5) on a class-conditional generator with ``layer_hook``.

* :func:`edit_channel` / :func:`channel_sweep`: single-channel editing, ``h_k <- scale * h_k + shift`` at one
  ``(layer, channel)`` (the paper scales one channel's activation; the grid of values is ours).
* :func:`hybridise`: category hybridisation: generate class ``a`` at ``z`` while the top aware channels of class
  ``b`` (per layer, by :class:`ChannelAwareness` ``A[b]``) take class ``b``'s features at the same ``z``.
* :func:`segment`: fine-grained segmentation: k-means (:func:`kmeans`, seeded k-means++) over per-pixel features,
  every layer upsampled bilinearly to the image size, each channel standardised over the batch and weighted by the
  sample's class awareness ``A[y, l, k] / ||A[y, l]||`` (every layer has unit total weight; our choice), clustered
  jointly over the batch so one cluster id is one part across images.

All take one-hot classes by index and run the generator in eval mode without gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .awareness import ChannelAwareness, check_class, check_class_generator, check_layers

__all__ = ["channel_sweep", "edit_channel", "hybridise", "kmeans", "onehot", "segment"]


def onehot(generator: nn.Module, class_idx: int, num: int, name: str = "class_idx") -> Tensor:
    """``[num, c_dim]`` one-hot labels of ``class_idx`` (validated) on the generator's device."""
    c_dim = check_class_generator(generator)
    c = torch.zeros(num, c_dim, device=next(generator.parameters()).device)
    c[:, check_class(class_idx, c_dim, name)] = 1
    return c


def _channel(generator: nn.Module, layer: str, channel: int) -> int:
    check_layers(generator, [layer])
    shapes = generator.layer_shapes() if hasattr(generator, "layer_shapes") else None
    if shapes is not None and not 0 <= int(channel) < shapes[layer][0]:
        raise ValueError(f"channel: {channel} out of [0, {shapes[layer][0]}) for layer {layer!r}")
    return int(channel)


@torch.no_grad()
def edit_channel(generator: nn.Module, z: Tensor, class_idx: int, layer: str, channel: int, scale: float = 1.0,
                 shift: float = 0.0) -> Tensor:
    """Images ``[N, C, R, R]`` with ``h_k <- scale * h_k + shift`` at ``(layer, channel)``.

    Raises:
        ValueError: An unknown layer, a channel or class out of range.
    """
    k = _channel(generator, layer, channel)

    def hook(name: str, h: Tensor) -> Tensor:
        if name != layer:
            return h
        h = h.clone()
        h[:, k] = h[:, k] * scale + shift
        return h

    generator.eval()
    return generator(z, onehot(generator, class_idx, len(z)), layer_hook=hook).image


def channel_sweep(generator: nn.Module, z: Tensor, class_idx: int, layer: str, channel: int,
                  values: Sequence[float] = (-3.0, 0.0, 1.0, 3.0, 6.0), mode: str = "scale") -> Tensor:
    """Images ``[V, N, C, R, R]``, one row per value of ``values`` (``mode`` ``'scale'`` or ``'shift'``)."""
    if mode not in ("scale", "shift"):
        raise ValueError(f"mode must be 'scale' or 'shift', got {mode!r}")
    rows = [edit_channel(generator, z, class_idx, layer, channel, scale=v if mode == "scale" else 1.0,
                         shift=v if mode == "shift" else 0.0) for v in values]
    return torch.stack(rows)


@torch.no_grad()
def hybridise(generator: nn.Module, z: Tensor, class_a: int, class_b: int, aw: ChannelAwareness,
              top_frac: float = 0.25, layers: Sequence[str] | None = None) -> Tensor:
    """Class ``a`` at ``z`` with class ``b``'s features on ``b``'s top aware channels, images ``[N, C, R, R]``.

    The channels are the top ``ceil(top_frac * C_l)`` of each of ``layers`` (None: all awareness layers).

    Raises:
        ValueError: A class out of range, an unknown layer, ``top_frac`` outside ``[0, 1]``.
    """
    layers = check_layers(generator, layers if layers is not None else aw.layers)
    missing = [n for n in layers if n not in aw.awareness]
    if missing:
        raise ValueError(f"layers: {missing} have no awareness (computed for {list(aw.layers)})")
    if not 0 <= top_frac <= 1:
        raise ValueError(f"top_frac must be in [0, 1], got {top_frac}")
    generator.eval()
    feats_b = generator(z, onehot(generator, class_b, len(z), "class_b"), return_features=True).features
    top = {n: torch.as_tensor(aw.top_channels(class_b, n, int(np.ceil(top_frac * aw.awareness[n].shape[1]))),
                              dtype=torch.long) for n in layers}

    def hook(name: str, h: Tensor) -> Tensor:
        if name not in top or not len(top[name]):
            return h
        h = h.clone()
        h[:, top[name]] = feats_b[name][:, top[name]]
        return h

    return generator(z, onehot(generator, class_a, len(z), "class_a"), layer_hook=hook).image


def kmeans(x: Tensor, k: int, iters: int = 30, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means with k-means++ seeding: ``x [M, D]`` -> ``(labels [M], centres [k, D])``."""
    if not 1 <= int(k) <= len(x):
        raise ValueError(f"num_clusters must be in [1, {len(x)}], got {k}")
    gen = torch.Generator().manual_seed(int(seed))
    centres = x[torch.randint(len(x), (1,), generator=gen)]
    for _ in range(1, int(k)):
        d2 = torch.cdist(x, centres).min(1).values.square()
        probs = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1 / len(d2))
        centres = torch.cat([centres, x[torch.multinomial(probs, 1, generator=gen)]])
    labels = torch.cdist(x, centres).argmin(1)
    for _ in range(int(iters)):
        new = torch.stack([x[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(int(k))])
        labels_new = torch.cdist(x, new).argmin(1)
        centres = new
        if torch.equal(labels_new, labels):
            break
        labels = labels_new
    return labels, centres


@torch.no_grad()
def segment(generator: nn.Module, z: Tensor, classes: Sequence[int], aw: ChannelAwareness | None,
            num_clusters: int = 5, layers: Sequence[str] | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Awareness-weighted feature clustering (module docstring); ``aw=None`` weights every channel equally.

    Args:
        generator: Class-conditional generator.
        z: Latents ``[N, z_dim]``.
        classes: Class index of each sample (``N`` entries).
        aw: Awareness of the generator (None: uniform weights, the unweighted baseline).
        num_clusters: k of k-means.
        layers: Feature layers (None: those of ``aw``, or all).
        seed: k-means seed.

    Returns:
        ``(labels [N, R, R] int64, images [N, C, R, R])``.
    """
    c_dim = check_class_generator(generator)
    if len(classes) != len(z):
        raise ValueError(f"classes: need one class per latent ({len(z)}), got {len(classes)}")
    ys = [check_class(y, c_dim, "classes") for y in classes]
    layers = check_layers(generator, layers if layers is not None else (aw.layers if aw is not None else None))
    if aw is not None and any(n not in aw.awareness for n in layers):
        raise ValueError(f"layers: awareness was computed for {list(aw.layers)} only")
    generator.eval()
    c = torch.zeros(len(z), c_dim, device=z.device)
    c[torch.arange(len(z)), torch.as_tensor(ys)] = 1
    out = generator(z, c, return_features=True)
    side = out.image.shape[-1]
    parts = []
    for n in layers:
        h = out.features[n].float()
        h = (h - h.mean((0, 2, 3), keepdim=True)) / (h.std((0, 2, 3), keepdim=True) + 1e-6)
        if aw is not None:
            w = torch.as_tensor(aw.awareness[n][ys], dtype=h.dtype)
        else:
            w = torch.ones(len(z), h.shape[1])
        w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
        h = F.interpolate(h * w[:, :, None, None], size=(side, side), mode="bilinear", align_corners=False)
        parts.append(h)
    feats = torch.cat(parts, 1).permute(0, 2, 3, 1).reshape(-1, sum(p.shape[1] for p in parts))
    labels, _ = kmeans(feats, num_clusters, seed=seed)
    return labels.view(len(z), side, side), out.image
