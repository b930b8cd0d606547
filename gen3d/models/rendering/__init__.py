"""Rendering for 3D-aware generators: cameras and poses, rays, point sampling, volume compositing, normals.

Split as Carver does (``qiuyu96/Carver:models/rendering/``): a point sampler (:mod:`.cameras`, :mod:`.rays`,
:mod:`.point_sampler`), a point representer (the generator's field, passed in as a callable) and a point integrator
(:mod:`.integrator`), tied together by :class:`VolumeRenderer`. Pure PyTorch, batched, ONNX-exportable.
"""

from .cameras import (
    POSE_MODES,
    camera_origins,
    focal_from_fov,
    intrinsics_from_fov,
    look_at_cam2world,
    pose_to_cam2world,
    sample_camera_angles,
)
from .integrator import DELTA_INF, NOISE_FADE_STEPS, IntegratorOutput, composite, noise_std_schedule
from .normals import (
    composite_normals,
    density_gradient,
    normals_from_density,
    normals_from_depth,
    unproject_depth,
    world_to_camera_normals,
)
from .point_sampler import hierarchical_depths, merge_by_depth, points_along_rays, sample_pdf, stratified_depths
from .rays import camera_ray_directions, rays_to_image, world_rays
from .renderer import RenderOutput, VolumeRenderer

__all__ = [
    "DELTA_INF", "NOISE_FADE_STEPS", "POSE_MODES", "IntegratorOutput", "RenderOutput", "VolumeRenderer",
    "camera_origins", "camera_ray_directions", "composite", "composite_normals", "density_gradient",
    "focal_from_fov", "hierarchical_depths", "intrinsics_from_fov", "look_at_cam2world", "merge_by_depth",
    "noise_std_schedule", "normals_from_density", "normals_from_depth", "points_along_rays", "pose_to_cam2world",
    "rays_to_image", "sample_camera_angles", "sample_pdf", "stratified_depths", "unproject_depth", "world_rays",
    "world_to_camera_normals",
]
