"""The one generator interface of gen3d and the structure every generator returns.

Sampling (:mod:`gen3d.models.gans.sampling`), validation (:meth:`BaseGAN.val_step`, whose ``fake_img`` the FID / KID
metrics read), ``tools/gan/generate.py``, the ONNX wrapper (:mod:`gen3d.deploy.gan_wrapper`) and, through the bundle
manifest, the torch-free runtime (:mod:`gen3d.runtime.generation`) all use this interface and nothing else of a
generator. A generator family adds what it needs behind it (StyleGAN2's ``mapping`` / ``synthesis``, a NeRF field
and renderer), but code outside the family never calls those.

A generator is an ``nn.Module`` with::

    z_dim           int    latent size
    c_dim           int    class-condition size (0: unconditional)
    pose_dim        int    camera-pose size (0: a 2D generator; 3D-aware generators > 0)
    img_resolution  int    output side R
    img_channels    int    output channels C
    forward(z [N, z_dim], c [N, c_dim] | None = None, pose [N, pose_dim] | None = None, *,
            truncation_psi: float | Tensor [1] = 1.0, truncation_cutoff: int | None = None,
            noise_mode: str = 'random', update_w_avg: bool = False) -> GeneratorOutput

and, where ``pose_dim > 0``::

    sample_pose(num, device=None, generator: torch.Generator | None = None) -> Tensor [num, pose_dim]

(the training pose distribution; seeded through ``generator`` so that sampling and validation are reproducible).

``truncation_psi`` may be a tensor so that an exported graph takes it as an input. ``noise_mode='const'`` makes the
output a deterministic function of the inputs (sampling, validation and export use it).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

#: Fields of :class:`GeneratorOutput`, in order; the image-like ones are also the output names of an exported
#: generator and of its bundle manifest (``gen3d.runtime.generation.GENERATOR_OUTPUTS`` repeats them, torch-free).
OUTPUT_FIELDS = ("image", "depth", "normal", "mask", "features")
MAP_FIELDS = ("image", "depth", "normal", "mask")
#: Interface attributes of a generator (see the module docstring).
INTERFACE_ATTRIBUTES = ("z_dim", "c_dim", "pose_dim", "img_resolution", "img_channels")


class GeneratorOutput(dict):
    """What a generator returns: a dict of the fields it has, with attribute access (like transformers' ModelOutput).

    Absent fields are not keys (``'depth' in out`` says whether the generator renders depth) and read as None.

    Args:
        image: ``[N, C, R, R]`` float, about ``[-1, 1]``.
        depth: ``[N, 1, R, R]`` depth of 3D-aware generators: the distance along each pixel's ray (a volume
            renderer's ``sum w_i t_i``, the convention of :mod:`gen3d.models.rendering` and of the pose datasets);
            a generator that renders camera-axis depth says so in its ``depth_kind`` attribute (``'ray'``/``'z'``).
        normal: ``[N, 3, R, R]`` unit surface normals in camera space.
        mask: ``[N, 1, R, R]`` foreground opacity in ``[0, 1]``.
        features: Per-layer features ``{name: [N, C_l, H_l, W_l]}`` (what editing tools read).
    """

    def __init__(self, image: Tensor, depth: Tensor | None = None, normal: Tensor | None = None,
                 mask: Tensor | None = None, features: dict[str, Tensor] | None = None) -> None:
        values = (image, depth, normal, mask, features)
        super().__init__((k, v) for k, v in zip(OUTPUT_FIELDS, values) if v is not None)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - a field or None
        if name in OUTPUT_FIELDS:
            return self.get(name)
        raise AttributeError(f"GeneratorOutput has no field {name!r} (fields: {OUTPUT_FIELDS})")

    def __reduce__(self) -> tuple:  # pickle / deepcopy through the constructor
        return (GeneratorOutput, tuple(self.get(k) for k in OUTPUT_FIELDS))

    def maps(self) -> dict[str, Tensor]:
        """The image-like fields present, in :data:`MAP_FIELDS` order (what an exported graph outputs)."""
        return {k: self[k] for k in MAP_FIELDS if k in self}


def check_generator(gen: nn.Module) -> nn.Module:
    """Raise a readable error when ``gen`` lacks an attribute of the interface; returns ``gen``.

    Raises:
        TypeError: A missing attribute.
    """
    missing = [a for a in INTERFACE_ATTRIBUTES if not hasattr(gen, a)]
    if missing:
        raise TypeError(f"{type(gen).__name__} does not implement the generator interface: no {missing} "
                        "(see gen3d.models.gans.generator_output)")
    return gen
