"""GAN editing: SeFa (Shen & Zhou, CVPR'21), ReSeFa (Zhu et al., ICML'22), PadInv (ECCV'22).

Only the PadInv training model (:mod:`.padinv`) is registered; the other functions take a built generator
(StyleGAN2 layout: ``mapping``, ``synthesis``, ``num_ws``) and return NumPy directions ``(K, w_dim)``, rows sorted by
descending eigenvalue.
"""

from . import padinv  # noqa: F401 - registers PadInv
from .directions import DirectionSet, file_sha256, load_directions, save_directions
from .manipulation import edit_grid, edit_ws, image_locality, locality_ratio, sample_ws, truncate_ws
from .padding_space import (
    center_crop,
    padding_layers,
    padding_map_size,
    padding_maps_from_list,
    padding_shapes,
    zero_padding_maps,
)
from .region import FFHQ_BOXES, box_to_mask, region_mask, scale_box, validate_box
from .resefa import (
    ReSeFaResult,
    generator_image_fn,
    image_jacobian,
    rayleigh_quotient,
    region_matrices,
    resefa_directions,
    resefa_from_fn,
    sample_w,
    solve_directions,
)
from .sefa import sefa_directions, sefa_from_matrix, style_modules, style_weights

__all__ = [
    "FFHQ_BOXES", "DirectionSet", "ReSeFaResult", "box_to_mask", "edit_grid", "edit_ws", "file_sha256",
    "generator_image_fn", "image_jacobian", "image_locality", "load_directions", "locality_ratio",
    "rayleigh_quotient", "region_mask", "region_matrices", "resefa_directions", "resefa_from_fn", "sample_w",
    "sample_ws", "save_directions", "scale_box", "sefa_directions", "sefa_from_matrix", "solve_directions",
    "style_modules", "style_weights", "truncate_ws", "validate_box", "center_crop", "padding_layers",
    "padding_map_size", "padding_maps_from_list", "padding_shapes", "zero_padding_maps",
]
