"""The padding space of PadInv (Bai et al., ECCV'22, arXiv 2203.11105, Sec. 3.2): padded synthesis convs.

"High-fidelity GAN Inversion with Padding Space": instance-aware maps replace the zero padding of synthesis convs
and the constant input.

Official code: ``EzioBy/padinv@49304d6`` ``models/stylegan2_generator_padinv.py`` (``SynthesisNetwork.forward``,
``ModulateConvLayer.forward``). There, for a non-upsampling conv, ``P = _center_crop(padding_map, res + 2)``,
``P[:, :, 1:-1, 1:-1] = x`` and ``y = conv2d(P, w, padding=0)``; the default (and training: ``fused_modulate`` needs
``not self.training``) path writes the *style-modulated* activations ``x * s`` into ``P`` and demodulates after the
conv, so the ring lives in the modulated-activation space: it is not scaled by the style, and it is demodulated.

Here the same conv is computed by linearity: ``y = modconv(x) + d * conv2d(ring, W)``, where ``modconv`` is the
unchanged zero-padded modulated conv (either execution of
:func:`~gen3d.models.gans.stylegan2.modulated_conv.modulated_conv2d`), ``ring`` is ``P`` with its interior zeroed,
``W`` the raw weight and ``d`` the demodulation coefficients. For ``fused=False`` this is the official sum split in
two; for ``fused=True`` it is the same function (the official fused path, batch 1 only, would instead modulate the
ring). A zero ring adds an exact zero, so zero-ring maps reproduce the plain output bit for bit.

``padding_maps`` of :meth:`~.generator.SynthesisNetwork.forward` is a dict ``{layer: (N, C_l, S, S)}`` keyed by the
conv index ``l`` (the conv reading ``ws[:, l]``, Hammer's ``layer{l}``), plus an optional ``'const'`` entry
``(N, C_4, S, S)`` whose centre 4x4 replaces the learned constant (official ``padding_maps[0]``, the encoder's
``encode_const_input``). Maps are centre-cropped to ``R_l + 2`` (``4`` for the constant); only non-upsampling convs
take maps (official ``only_pad_even``). The official list (``[const, layer0, layer1, ...]``, ``None`` for unpadded)
converts with :func:`gen3d.models.editing.padding_space.padding_maps_from_list`.
"""

from collections.abc import Mapping

from torch import Tensor, nn
from torch.nn import functional as F

#: Key of the map that replaces the constant input (official ``padding_maps[0]``).
CONST_KEY = "const"


def center_crop(x: Tensor, size: int) -> Tensor:
    """Centre crop of the last two dims (official ``_center_crop``: offset ``(H - size) // 2``).

    Args:
        x: ``(N, C, H, W)`` with ``H, W >= size``.
        size: Output side.

    Returns:
        A view ``(N, C, size, size)``.
    """
    h, w = x.shape[-2], x.shape[-1]
    if h < size or w < size:
        raise ValueError(f"cannot centre-crop {tuple(x.shape)} to {size} x {size}")
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def conv_layers(synthesis: nn.Module) -> list[tuple[int, str, nn.Module]]:
    """Every synthesis conv with its index (the ``ws`` index it reads) and module name.

    Args:
        synthesis: A :class:`~.generator.SynthesisNetwork`.

    Returns:
        ``(layer, 'b{res}.conv0' | 'b{res}.conv1', conv)`` for ``layer = 0 .. num_ws - 2``.
    """
    out = []
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        for name in (["conv0"] if block.in_channels else []) + ["conv1"]:
            out.append((len(out), f"b{res}.{name}", getattr(block, name)))
    return out


def padding_ring_conv2d(padding: Tensor, weight: Tensor, dcoefs: Tensor | None = None) -> Tensor:
    """The contribution of the padding ring to a stride-1 "same" conv (the PadInv term of the module docstring).

    Args:
        padding: ``(N, C_in, H + 2p, W + 2p)`` with ``p = k // 2``; its interior (where the activations go) is
            ignored.
        weight: Raw (unmodulated) weight ``(C_out, C_in, k, k)``, ``k`` odd and > 1.
        dcoefs: Demodulation coefficients ``(N, C_out)`` or None (no demodulation).

    Returns:
        ``(N, C_out, H, W)``, non-zero only within ``p`` pixels of the border.
    """
    p = weight.shape[-1] // 2
    if p == 0:
        raise ValueError("a 1x1 conv has no padding to replace")
    ring = padding.clone()
    ring[:, :, p:-p, p:-p] = 0  # official: P[:, :, 1:-1, 1:-1] = x; x is convolved by the unchanged conv
    y = F.conv2d(ring, weight.to(ring.dtype))
    return y if dcoefs is None else y * dcoefs.reshape(*dcoefs.shape, 1, 1).to(y.dtype)


def check_padding_maps(synthesis: nn.Module, padding_maps: Mapping, batch: int) -> dict:
    """Validate ``padding_maps`` against a synthesis network and centre-crop each map to the size it is used at.

    Args:
        synthesis: A :class:`~.generator.SynthesisNetwork`.
        padding_maps: ``{layer: (N, C_l, H, W)}`` plus an optional ``'const'`` entry (see the module docstring);
            ``H, W >= R_l + 2`` (``>= 4`` for ``'const'``).
        batch: ``N``.

    Returns:
        The same keys, maps cropped to ``(N, C_l, R_l + 2, R_l + 2)`` (``'const'``: ``(N, C_4, 4, 4)``).
    """
    if not isinstance(padding_maps, Mapping):
        raise TypeError("padding_maps must be a dict {conv layer index: (N, C, S, S)} with an optional 'const' entry, "
                        f"got {type(padding_maps).__name__}; convert the official list with "
                        "gen3d.models.editing.padding_space.padding_maps_from_list")
    layers = {layer: (name, conv) for layer, name, conv in conv_layers(synthesis)}
    padded = [layer for layer, (_, conv) in layers.items() if conv.up == 1]
    first = getattr(synthesis, f"b{synthesis.block_resolutions[0]}")
    out = {}
    for key, value in padding_maps.items():
        if isinstance(key, str) and key == CONST_KEY:
            channels, size = first.const.shape[0], first.const.shape[-1]
            what = f"the constant input (b{first.resolution}.const, {size}x{size})"
        elif isinstance(key, int) and not isinstance(key, bool) and key in layers:
            name, conv = layers[key]
            if conv.up != 1:
                raise ValueError(f"layer {key} ({name}) is an up-sampling conv: PadInv pads only the non-upsampling "
                                 f"convs (official only_pad_even), layers {padded}")
            channels, size = conv.in_channels, conv.resolution + 2 * (conv.weight.shape[-1] // 2)
            what = f"layer {key} ({name}, {conv.resolution}x{conv.resolution})"
        else:
            raise ValueError(f"unknown padding map key {key!r}: expected {CONST_KEY!r} or a non-upsampling conv "
                             f"layer in {padded}")
        ok = isinstance(value, Tensor) and value.ndim == 4 and value.shape[0] == batch
        ok = ok and value.shape[1] == channels and value.shape[2] >= size and value.shape[3] >= size
        if not ok:
            got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"padding map of {what} must be ({batch}, {channels}, S, S) with S >= {size}, got {got}")
        out[key] = center_crop(value, size)
    return out
