"""albumentations inside an mmengine pipeline: image and mask transformed together."""

import copy
import warnings
from collections.abc import Sequence

import albumentations as A

from gen3d.registry import TRANSFORMS

from ..seeding import private_seed


@TRANSFORMS.register_module()
class Albu:
    """Apply a list of albumentations transforms jointly to ``img`` and, when present, ``gt_mask``.

    Each entry is an albumentations transform object or a dict whose ``type`` names a class of the
    ``albumentations`` package and whose other keys are its arguments; a ``transforms`` key (for ``OneOf``,
    ``SomeOf``, ...) is built recursively. Geometric transforms use bilinear interpolation for the image and
    nearest for the mask (albumentations' defaults), so the mask stays binary. Unknown arguments are an error
    (albumentations only warns). Updates ``img``, ``gt_mask`` and ``img_shape``.

    Args:
        transforms: The albumentations transforms, applied in order.
        seed: Seed of albumentations' random state; ``None`` draws a fresh one. In a loader built by gen3d's
            Runner the state is reseeded for every sample from the sample's key (:mod:`gen3d.datasets.seeding`),
            mixed with this seed.

    Examples:
        >>> Albu([dict(type='Resize', height=224, width=224)])  # doctest: +SKIP
    """

    def __init__(self, transforms: Sequence[dict | A.BasicTransform], seed: int | None = None) -> None:
        self.transforms_cfg = copy.deepcopy(list(transforms))
        self.seed = seed
        self.aug = A.Compose([self._build(t) for t in transforms], seed=seed)

    @classmethod
    def _build(cls, cfg: dict | A.BasicTransform) -> A.BasicTransform:
        if not isinstance(cfg, dict):
            return cfg
        args = copy.deepcopy(cfg)
        name = args.pop("type")
        albu_cls = getattr(A, name, None) if isinstance(name, str) else name
        if not isinstance(albu_cls, type):
            raise ValueError(f"Albu: {name!r} is not an albumentations transform")
        if "transforms" in args:
            args["transforms"] = [cls._build(t) for t in args["transforms"]]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                transform = albu_cls(**args)
            except (TypeError, ValueError) as err:
                raise ValueError(f"Albu: cannot build {name} with {args}: {err}") from err
        bad = [str(w.message) for w in caught if "not valid for transform" in str(w.message)]
        if bad:
            raise ValueError(f"Albu: {'; '.join(bad)}")
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return transform

    def __call__(self, results: dict) -> dict:
        """Transform ``results['img']`` (``(H, W, 3)`` uint8) and ``results['gt_mask']`` (``(H, W)``) in place."""
        sample_seed = private_seed(self.seed)
        if sample_seed is not None:
            self.aug.set_random_seed(sample_seed)
        if results.get("gt_mask") is not None:
            out = self.aug(image=results["img"], mask=results["gt_mask"])
            results["gt_mask"] = out["mask"]
        else:
            out = self.aug(image=results["img"])
        results["img"] = out["image"]
        results["img_shape"] = out["image"].shape[:2]
        return results

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(transforms={self.transforms_cfg})"
