"""DynamicD: a discriminator whose layer width follows a schedule (Yang et al. 2022, arXiv 2209.09897).

The wrapped discriminator keeps all its parameters; only the fraction ``r(t)`` of units that every equalized layer
uses changes, linearly in the number of real images seen:
``r(t) = start_ratio + (end_ratio - start_ratio) * seen_img / total_img`` (clamped to ``t <= 1``), as in
``genforce/dynamicd:training/training_loop.py`` (there: ``cur_nimg / 1e3 / total_kimg``, written into D every
``ada_interval = 4`` minibatches; here whenever the GAN model calls :meth:`DynamicDiscriminator.set_progress`).
Paper settings (official README): sufficient data, increasing width ``0.5 -> 1.0``; limited data, decreasing width
``1.0 -> 0.5`` with ``random_select=True`` and ``keep_layers=9``.

Layer enumeration and ``keep_layers`` (official ``--keepd``; ``training/networks.py:DiscriminatorBlock``): the
equalized layers carrying a :class:`WidthMask` hint are taken in module order (for :class:`StyleGAN2Discriminator`:
per block from the highest resolution down ``fromrgb, conv0, conv1, skip``, then the epilogue ``conv, fc, out``).
Counted layers (the blocks' layers) with index ``< keep_layers`` are never masked and the one with index
``== keep_layers`` keeps its full input; uncounted layers (the epilogue) are always dynamic, as in the official
``DiscriminatorEpilogue``. Masking rules per layer are in :mod:`gen3d.models.layers.dynamic_width`.
A discriminator with no hints at all gets default masks on every equalized layer, its first layer keeping its input
and its last layer its output.
"""

from torch import Tensor, nn

from gen3d.models.layers.dynamic_width import WidthMask
from gen3d.models.layers.equalized import EqualConv2d, EqualLinear
from gen3d.registry import MODELS

from .discriminator_wrapper import DiscriminatorWrapper

KEEP_LAYERS_LIMITED_DATA = 9  # official README: `--keepd 9` for the limited-data (decreasing-width) setting


def dynamic_layers(discriminator: nn.Module) -> list[EqualConv2d | EqualLinear]:
    """The equalized layers DynamicD controls, in enumeration order; attaches default hints when there are none.

    Args:
        discriminator: A discriminator built from :class:`EqualConv2d` / :class:`EqualLinear`.

    Returns:
        The layers, each with a :class:`WidthMask` in ``width_mask``.
    """
    equalized = [m for m in discriminator.modules() if isinstance(m, (EqualConv2d, EqualLinear))]
    layers = [m for m in equalized if m.width_mask is not None]
    if not layers:
        if not equalized:
            raise ValueError("the discriminator has no equalized layers to make dynamic")
        for m in equalized:
            m.width_mask = WidthMask()
        equalized[0].width_mask.keep_in = True
        equalized[-1].width_mask.keep_out = True
        layers = equalized
    return layers


@MODELS.register_module()
class DynamicDiscriminator(DiscriminatorWrapper):
    """Wrap any discriminator built from gen3d's equalized layers; adds no parameters nor buffers.

    Args:
        discriminator: The discriminator, or its config dict (built from ``MODELS``).
        start_ratio: Width ratio at ``seen_img = 0``, in ``(0, 1]``.
        end_ratio: Width ratio at ``seen_img >= total_img``, in ``(0, 1]``.
        total_img: Length of the schedule in real images (the training length).
        random_select: Draw a random subset of units at every training forward (otherwise the first units).
        keep_layers: Counted layers before this index are never masked (official ``--keepd``).

    Attributes:
        module: The wrapped discriminator (``state_dict`` keys are ``module.<...>``).
        ratio: The current width ratio.
    """

    def __init__(self, discriminator: dict | nn.Module, start_ratio: float, end_ratio: float, total_img: int,
                 random_select: bool = False, keep_layers: int = 0) -> None:
        super().__init__()
        for name, r in (("start_ratio", start_ratio), ("end_ratio", end_ratio)):
            if not 0 < r <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {r}")
        if total_img <= 0:
            raise ValueError("total_img must be positive")
        if keep_layers < 0:
            raise ValueError("keep_layers must be >= 0")
        self.module = MODELS.build(discriminator) if isinstance(discriminator, dict) else discriminator
        self.start_ratio, self.end_ratio = float(start_ratio), float(end_ratio)
        self.total_img, self.random_select, self.keep_layers = int(total_img), bool(random_select), int(keep_layers)
        self._layers = dynamic_layers(self.module)  # plain list: not registered twice as submodules
        self._frozen = set()  # positions in self._layers (not ids: they must survive copy.deepcopy)
        index = 0
        for pos, layer in enumerate(self._layers):
            mask = layer.width_mask
            mask.random_select = self.random_select
            if mask.counted:
                if index < self.keep_layers:
                    self._frozen.add(pos)
                elif index == self.keep_layers:
                    mask.keep_in = True
                index += 1
        self._ratio = self.start_ratio
        self.ratio = self.start_ratio

    @property
    def ratio(self) -> float:
        """Current width ratio in ``(0, 1]``."""
        return self._ratio

    @ratio.setter
    def ratio(self, value: float) -> None:
        if not 0 < value <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {value}")
        self._ratio = float(value)
        for pos, layer in enumerate(self._layers):
            layer.width_mask.ratio = None if pos in self._frozen else self._ratio

    @property
    def masked_layers(self) -> list[EqualConv2d | EqualLinear]:
        """The controlled layers in enumeration order (including those frozen by ``keep_layers``)."""
        return list(self._layers)

    def ratio_at(self, seen_img: int) -> float:
        """The scheduled ratio after ``seen_img`` real images.

        Args:
            seen_img: Real images seen so far.

        Returns:
            ``start + (end - start) * min(max(seen_img / total_img, 0), 1)``.
        """
        t = min(max(float(seen_img) / self.total_img, 0.0), 1.0)
        return self.start_ratio + (self.end_ratio - self.start_ratio) * t

    def set_progress(self, seen_img: int) -> float:
        """Set the width for the current training progress.

        Args:
            seen_img: Real images seen so far (the GAN model's ``seen_img``).

        Returns:
            The new ratio ``r(t)``.
        """
        self.ratio = self.ratio_at(int(seen_img))
        return self.ratio

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        """Score images with the current width.

        Args:
            img: ``(N, C, R, R)`` images.
            c: ``(N, c_dim)`` labels or ``None``.

        Returns:
            ``(N, 1)`` logits.
        """
        return self.module(img, c)

    def extra_repr(self) -> str:  # noqa: D102
        return (f"ratio={self._ratio:.4f}, schedule={self.start_ratio}->{self.end_ratio} over {self.total_img} img, "
                f"random_select={self.random_select}, keep_layers={self.keep_layers}")
