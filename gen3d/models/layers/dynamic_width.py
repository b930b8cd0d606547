"""Dynamic layer width of DynamicD (Yang et al. 2022, "Improving GANs with A Dynamic Discriminator", arXiv 2209.09897).

A :class:`WidthMask` attached to an equalized layer (``EqualConv2d``/``EqualLinear``) keeps only a fraction ``ratio``
of its input and output units: the other weight rows/columns are multiplied by zero and the equalized-lr gain is
recomputed from the number of inputs actually kept, ``W_eff = W * M * lr / sqrt(n_in_kept * k * k)``. Parameters and
FLOPs do not change. Facts from the official code (``genforce/dynamicd:training/networks.py``,
``Conv2dLayer.unit_occupying`` and ``FullyConnectedLayer.unit_occupying``):

* kept counts are ``int(ratio * units)`` (floor); ``keep_in``/``keep_out`` keep a side at full width;
* a fully connected layer fed by a flattened ``(C, H, W)`` map masks whole channels: its inputs are grouped in
  ``div_dim = H * W`` consecutive features and its gain uses ``n_kept_channels * div_dim``;
* the last ``minus_dim`` inputs of a conv (the minibatch-stddev channels) are always kept and counted;
* with ``random_select`` a new random subset of inputs and of outputs is drawn at every forward pass, independently
  per layer and per side (no channel correspondence between consecutive layers), otherwise the first units are kept.

Deviation, documented: the official code draws random subsets in eval mode too (``np.random.shuffle`` is not gated
by ``self.training``); here random subsets are drawn in training mode only and eval keeps the first units, so that
evaluating a discriminator is deterministic. The official code never evaluates D outside training, so nothing the
paper reports depends on this.
"""

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class WidthMask:
    """Dynamic-width state of one equalized layer; ``ratio=None`` means the plain, full-width layer.

    Args:
        keep_in: Keep every input (e.g. fromRGB, or the first layer after DynamicD's ``keep_layers``).
        keep_out: Keep every output (the final logit / projection layer).
        div_dim: Inputs per masked unit: ``H * W`` for an FC layer fed by a flattened ``(C, H, W)`` map.
        minus_dim: Trailing inputs that are always kept (minibatch-stddev channels).
        counted: Whether DynamicD's ``keep_layers`` counts this layer (the discriminator blocks in the official
            code; the epilogue layers are not counted and are always dynamic).
        ratio: Width ratio in ``(0, 1]``; ``None`` disables masking.
        random_select: Draw a random subset at every training forward instead of keeping the first units.
    """

    keep_in: bool = False
    keep_out: bool = False
    div_dim: int = 1
    minus_dim: int = 0
    counted: bool = True
    ratio: float | None = None
    random_select: bool = False

    def is_full(self, in_features: int, out_features: int) -> bool:
        """Whether the mask keeps every input and output (then the plain layer runs, bit-identical).

        Args:
            in_features: Input features of the weight (``C_in``, or ``C * H * W`` for a flattened FC input).
            out_features: Output features of the weight.

        Returns:
            ``True`` when nothing is masked.
        """
        if self.ratio is None:
            return True
        return self.kept_in(in_features) == in_features and self.kept_out(out_features) == out_features

    def _in_units(self, in_features: int) -> int:
        return (in_features - self.minus_dim) // self.div_dim

    def kept_in_units(self, in_features: int) -> int:
        """Masked input units kept: ``int(ratio * units)`` (official floor), at least one.

        Args:
            in_features: Input features of the weight.

        Returns:
            Kept units (channels), excluding the ``minus_dim`` always-kept inputs.
        """
        units = self._in_units(in_features)
        if self.keep_in or self.ratio is None:
            return units
        return max(1, int(self.ratio * units))

    def kept_in(self, in_features: int) -> int:
        """Input features kept, the fan-in of the recomputed equalized-lr gain (``n_in`` or ``n_in * div_dim``).

        Args:
            in_features: Input features of the weight.

        Returns:
            ``kept_in_units * div_dim + minus_dim``.
        """
        return self.kept_in_units(in_features) * self.div_dim + self.minus_dim

    def kept_out(self, out_features: int) -> int:
        """Outputs kept: ``int(ratio * out)``, at least one, or all with ``keep_out``.

        Args:
            out_features: Output features of the weight.

        Returns:
            Kept outputs.
        """
        if self.keep_out or self.ratio is None:
            return out_features
        return max(1, int(self.ratio * out_features))

    def _select(self, units: int, kept: int, random: bool, device: torch.device) -> Tensor:
        mask = torch.zeros(units, device=device)
        if random:
            mask[torch.randperm(units, device=device)[:kept]] = 1.0
        else:
            mask[:kept] = 1.0
        return mask

    def masks(self, in_features: int, out_features: int, training: bool,
              device: torch.device | None = None) -> tuple[Tensor, Tensor]:
        """Draw the 0/1 input and output masks.

        Args:
            in_features: Input features of the weight.
            out_features: Output features of the weight.
            training: Random subsets are drawn only in training mode (see the module docstring).
            device: Device of the masks.

        Returns:
            ``(in_mask (in_features,), out_mask (out_features,))``.
        """
        random = self.random_select and training
        units = self._in_units(in_features)
        in_mask = self._select(units, self.kept_in_units(in_features), random, device)
        in_mask = in_mask.repeat_interleave(self.div_dim)
        in_mask = torch.cat([in_mask, torch.ones(self.minus_dim, device=device)])
        out_mask = self._select(out_features, self.kept_out(out_features), random, device)
        return in_mask, out_mask


def masked_weight(weight: Tensor, mask: WidthMask, lr_multiplier: float, training: bool) -> Tensor:
    """Apply a width mask and the recomputed equalized-lr gain to a raw weight.

    Args:
        weight: Raw parameter ``(C_out, C_in)`` or ``(C_out, C_in, k, k)``.
        mask: The layer's width state (not full).
        lr_multiplier: The layer's learning-rate multiplier (1 for every discriminator layer).
        training: Whether random subsets may be drawn.

    Returns:
        ``weight * M * lr_multiplier / sqrt(n_in_kept * k * k)``, same shape as ``weight``.
    """
    out_features, in_features = weight.shape[:2]
    receptive = weight[0, 0].numel()
    in_mask, out_mask = mask.masks(in_features, out_features, training, weight.device)
    extra = (1,) * (weight.ndim - 2)
    m = out_mask.reshape(-1, 1, *extra) * in_mask.reshape(1, -1, *extra)
    gain = lr_multiplier / (mask.kept_in(in_features) * receptive) ** 0.5
    return weight * m.to(weight.dtype) * gain
