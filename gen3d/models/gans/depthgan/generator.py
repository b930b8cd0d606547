"""DepthGAN dual-path generator (Shi et al., ECCV'22 oral, arXiv 2202.08553, Sec. 3.1).

"3D-Aware Indoor Scene Synthesis with Depth Priors". Two StyleGAN2 skip generators
(:class:`~gen3d.models.gans.stylegan2.StyleGAN2Generator`), each with its own latent and mapping network, as in the
official ``VivianSZF/depthgan@80b259d`` ``models/depthgan_generator.py`` (``DepthGANGenerator_depth`` /
``DepthGANGenerator_rgb``):

- the **depth path** ``G_d(z_d, a)`` renders a 1-channel depth map; the yaw ``a`` is embedded and mapped to ``cam_p``
  (:class:`~.generator_layers.AngleMapping`), which multiplies the ``w`` of synthesis convs 0-2;
- the **appearance path** ``G_rgb(z_rgb, feats_d)`` renders the RGB image; after every modulated conv ``l`` its
  features are replaced by :class:`~.generator_layers.FeatureInjection` of them and the depth path's features of
  conv ``l``, so depth conditions appearance at every layer.

Both paths are built on the StyleGAN2 synthesis network through its ``conv_ws`` / ``layer_hook`` hooks; their
channels must match layer by layer, so they share ``channel_base`` / ``channel_max``.

Generator interface (:mod:`gen3d.models.gans.generator_output`):

- ``z = [z_depth, z_rgb]`` concatenated along dim 1, ``z_dim = z_dim_depth + z_dim_rgb`` (1024 by default), so the
  house's latent sampling (one standard-normal vector per sample) draws both latents; each mapping normalises its
  own half, as the two official mapping networks do.
- ``pose = [yaw]`` ``(N, 1)`` in radians (``pose_dim = 1``; DepthGAN has no other camera parameter: the official
  ``runner.a_dis.sample([batch_size, 1])``), 0 at the training views' centre; :meth:`sample_pose` draws it from
  ``U(yaw_range)``, DepthGAN's ``U(-pi/12, pi/12)`` by default (``runners/depthgan_runner.py``).
- ``depth``: DepthGAN's **normalised depth**, the raw linear output of the depth path (no tanh,
  ``final_tanh=False``), trained against LeReS depth stored as uint16 and normalised ``(d - 30000) / 30000``
  (``datasets/rgbd_dataset.py``), so about ``[-1, 1]``, larger farther. It is camera-axis depth up to an unknown
  affine map (``depth_kind = 'z'``), not a metric distance: the warp of the rotation losses unprojects
  ``z = (d + 1) / 2 + 0.13`` with ``K = [[260, 0, W/2], [0, 260, H/2], [0, 0, 1]]``
  (``runners/losses/depthgan_loss.py``, ``change_a``, ``s = -0.13``).

Randomness: the official runner uses ``noise_mode='none'`` for training and validation; ``noise_mode`` here is passed
to both paths (``'const'``: a deterministic function of ``z`` and the pose). Style mixing (appearance path only in
the official code; the depth generator ignores ``style_mixing_prob``) belongs to the training model, on the ``ws``
of :meth:`DepthGANGenerator.map_latents`.
"""

import math

import torch
from torch import Tensor, nn

from gen3d.evaluation.metrics.depthgan_warp import YAW_MAX
from gen3d.models.layers.fir import static_int
from gen3d.registry import MODELS

from ..generator_output import GeneratorOutput
from ..stylegan2.generator import CHANNEL_MAX, StyleGAN2Generator, SynthesisNetwork
from ..stylegan2.mapping import MAPPING_LAYERS, MAPPING_LR_MULT, W_AVG_BETA
from .generator_layers import ANGLE_LAYERS, AngleMapping, FeatureInjection

Z_DIM = 512  # --latent_dim_depth=512, --latent_dim_rgb=512 (all four depthgan_lsun_* scripts)
W_DIM = 512
CHANNEL_BASE = 16384  # --g_fmaps_factor=0.5 in all four scripts: 0.5 * (32 << 10)
DEPTH_CHANNELS = 1


def conv_channels(synthesis: SynthesisNetwork) -> list[int]:
    """Output channels of every synthesis conv, in the order of their ``ws`` index (Hammer's ``layer{l}``).

    Args:
        synthesis: A StyleGAN2 synthesis network.

    Returns:
        ``num_ws - 1`` channel counts.
    """
    channels = []
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f"b{res}")
        channels += [block.conv1.out_channels] * block.num_conv  # conv0 and conv1 of a block share the width
    return channels


@MODELS.register_module()
class DepthGANGenerator(nn.Module):
    """DepthGAN's dual-path generator: a yaw-conditioned depth StyleGAN2 feeding an appearance StyleGAN2.

    Args:
        resolution: Output side (power of two, at least 8: ``cam_p`` scales three convs).
        z_dim_depth: Latent size of the depth path.
        z_dim_rgb: Latent size of the appearance path.
        w_dim: Dimension of ``w`` (both paths).
        c_dim: Label size (0: unconditional, DepthGAN's setting); the label goes to both mappings.
        mapping_layers: FC layers of each mapping network.
        channel_base: Channel multiplier of both synthesis networks.
        channel_max: Channel cap.
        yaw_range: ``(low, high)`` of the uniform training yaw, radians.
        w_avg_beta: Decay of each path's ``w_avg``.
        mapping_lr_mult: Learning-rate multiplier of the mapping networks and of the angle mapping.
        conv_clamp: Optional activation clamp of the synthesis and injection convs (256 with mixed precision).

    Attributes:
        z_dim, c_dim, pose_dim, img_resolution, img_channels: The generator interface (``pose_dim = 1``, the yaw).
        depth_kind: ``'z'`` (normalised camera-axis depth; see the module docstring).
        num_ws: ``w`` vectors per path.
        depth: The depth path, a :class:`StyleGAN2Generator` with 1 output channel.
        rgb: The appearance path, a :class:`StyleGAN2Generator` with 3 output channels.
        angle_mapping: Yaw -> ``cam_p``.
        injection: One :class:`FeatureInjection` per synthesis conv.
    """

    def __init__(self, resolution: int, z_dim_depth: int = Z_DIM, z_dim_rgb: int = Z_DIM, w_dim: int = W_DIM,
                 c_dim: int = 0, mapping_layers: int = MAPPING_LAYERS, channel_base: int = CHANNEL_BASE,
                 channel_max: int = CHANNEL_MAX, yaw_range: tuple[float, float] = (-YAW_MAX, YAW_MAX),
                 w_avg_beta: float = W_AVG_BETA, mapping_lr_mult: float = MAPPING_LR_MULT,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        if resolution < 8:
            raise ValueError(f"DepthGAN scales the w of {ANGLE_LAYERS} convs: resolution must be >= 8, "
                             f"got {resolution}")
        low, high = (float(v) for v in yaw_range)
        if not low <= high:
            raise ValueError(f"yaw_range must be (low, high) with low <= high, got {yaw_range}")
        self.z_dim_depth, self.z_dim_rgb, self.w_dim = z_dim_depth, z_dim_rgb, w_dim
        self.z_dim, self.c_dim, self.pose_dim = z_dim_depth + z_dim_rgb, c_dim, 1
        self.img_resolution, self.img_channels, self.depth_kind = resolution, 3, "z"
        self.yaw_range = (low, high)
        common = dict(w_dim=w_dim, c_dim=c_dim, mapping_layers=mapping_layers, channel_base=channel_base,
                      channel_max=channel_max, w_avg_beta=w_avg_beta, mapping_lr_mult=mapping_lr_mult,
                      conv_clamp=conv_clamp)
        self.depth = StyleGAN2Generator(resolution, z_dim_depth, img_channels=DEPTH_CHANNELS, **common)
        self.rgb = StyleGAN2Generator(resolution, z_dim_rgb, img_channels=3, **common)
        self.num_ws = self.rgb.num_ws
        self.angle_mapping = AngleMapping(w_dim, lr_multiplier=mapping_lr_mult)
        channels = conv_channels(self.rgb.synthesis)
        self.injection = nn.ModuleList(FeatureInjection(ch, clamp=conv_clamp) for ch in channels)

    # ------------------------------------------------------------------ poses
    def sample_pose(self, num: int, device: torch.device | str | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """Yaw angles from the training distribution ``U(yaw_range)``.

        Args:
            num: ``N``.
            device: Device of the result.
            generator: Optional random generator (drawn on its device, then moved).

        Returns:
            ``(N, 1)`` radians.
        """
        low, high = self.yaw_range
        u = torch.rand(num, 1, generator=generator, device=generator.device if generator is not None else device)
        yaw = low + (high - low) * u
        return yaw if device is None else yaw.to(device)

    def pose_distribution(self) -> dict:
        """The pose model for tools and bundles: uniform yaw, no pitch.

        Returns:
            ``{'mode': 'uniform', 'order': ['yaw'], 'yaw_mean', 'yaw_std' (half range), 'pitch_mean', 'pitch_std',
            'depth_kind'}`` in radians (``pitch_mean = pi / 2``, ``pitch_std = 0``: DepthGAN has no pitch).
        """
        low, high = self.yaw_range
        return {"mode": "uniform", "order": ["yaw"], "yaw_mean": (low + high) / 2, "yaw_std": (high - low) / 2,
                "pitch_mean": math.pi / 2, "pitch_std": 0.0, "depth_kind": self.depth_kind}

    # ------------------------------------------------------------------ the two paths
    def path_modules(self, path: str) -> nn.ModuleList:
        """The modules of one path, as trained by its own optimizer (a view: the modules are not copied).

        Args:
            path: ``'depth'`` (the depth StyleGAN2 and the angle mapping, official ``generator_depth``) or
                ``'rgb'`` (the appearance StyleGAN2 and the injection layers, official ``generator_rgb``).
        """
        if path == "depth":
            return nn.ModuleList([self.depth, self.angle_mapping])
        if path == "rgb":
            return nn.ModuleList([self.rgb, self.injection])
        raise ValueError(f"path must be 'depth' or 'rgb', got {path!r}")

    def split_latent(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z = [z_depth, z_rgb]`` -> its two halves.

        Args:
            z: ``(N, z_dim_depth + z_dim_rgb)``.

        Returns:
            ``z_depth (N, z_dim_depth)``, ``z_rgb (N, z_dim_rgb)``.
        """
        if z.ndim != 2 or static_int(z.shape[1]) != self.z_dim:
            raise ValueError(f"expected z of shape (N, {self.z_dim}) = [z_depth, z_rgb], got {tuple(z.shape)}")
        return z[:, :self.z_dim_depth], z[:, self.z_dim_depth:]

    def map_latents(self, z: Tensor, c: Tensor | None = None, truncation_psi: float | Tensor = 1.0,
                    truncation_cutoff: int | None = None, update_w_avg: bool = False) -> tuple[Tensor, Tensor]:
        """Both mapping networks (truncation and ``w_avg`` tracking per path).

        Args:
            z: ``(N, z_dim)`` = ``[z_depth, z_rgb]``.
            c: ``(N, c_dim)`` labels when conditional.
            truncation_psi: Truncation of both paths (1: none).
            truncation_cutoff: Truncate only the first ``cutoff`` ws.
            update_w_avg: Update both ``w_avg`` moving averages.

        Returns:
            ``ws_depth``, ``ws_rgb``, each ``(N, num_ws, w_dim)``.
        """
        z_depth, z_rgb = self.split_latent(z)
        kwargs = dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_w_avg=update_w_avg)
        return self.depth.mapping(z_depth, c, **kwargs), self.rgb.mapping(z_rgb, c, **kwargs)

    def synthesize_depth(self, ws_depth: Tensor, pose: Tensor,
                         noise_mode: str = "random") -> tuple[Tensor, list[Tensor]]:
        """The depth path: ``w`` of convs 0-2 scaled by ``cam_p(yaw)``, features kept after every conv.

        Args:
            ws_depth: ``(N, num_ws, w_dim)``.
            pose: ``(N, 1)`` yaw, radians.
            noise_mode: ``"random"``, ``"const"`` or ``"none"``.

        Returns:
            Depth ``(N, 1, R, R)`` and the features of convs ``0 .. num_ws - 2``, ``(N, C_l, R_l, R_l)`` each.
        """
        cam_p = self.angle_mapping(pose).unsqueeze(1)  # (N, 1, w_dim): one vector for the three layers
        ws_depth = ws_depth.float()
        conv_ws = torch.cat([ws_depth[:, :ANGLE_LAYERS] * cam_p, ws_depth[:, ANGLE_LAYERS:]], dim=1)
        features: list[Tensor] = []

        def keep(layer: int, x: Tensor) -> Tensor:
            features.append(x)
            return x

        depth = self.depth.synthesis(ws_depth, noise_mode=noise_mode, conv_ws=conv_ws, layer_hook=keep)
        return depth, features

    def synthesize_rgb(self, ws_rgb: Tensor, depth_features: list[Tensor], noise_mode: str = "random") -> Tensor:
        """The appearance path, with the depth features injected after every conv.

        Args:
            ws_rgb: ``(N, num_ws, w_dim)``.
            depth_features: The ``num_ws - 1`` features of :meth:`synthesize_depth`.
            noise_mode: ``"random"``, ``"const"`` or ``"none"``.

        Returns:
            Image ``(N, 3, R, R)``, about ``[-1, 1]``.
        """
        if len(depth_features) != len(self.injection):
            raise ValueError(f"expected {len(self.injection)} depth features, got {len(depth_features)}")

        def inject(layer: int, x: Tensor) -> Tensor:
            return self.injection[layer](x, depth_features[layer])

        return self.rgb.synthesis(ws_rgb, noise_mode=noise_mode, layer_hook=inject)

    def forward(self, z: Tensor, c: Tensor | None = None, pose: Tensor | None = None, *,
                truncation_psi: float | Tensor = 1.0, truncation_cutoff: int | None = None,
                noise_mode: str = "random", update_w_avg: bool = False,
                generator: torch.Generator | None = None) -> GeneratorOutput:
        """Generate RGB images and their depth (the generator interface).

        Args:
            z: ``(N, z_dim)`` = ``[z_depth, z_rgb]``.
            c: ``(N, c_dim)`` labels when conditional.
            pose: ``(N, 1)`` yaw in radians; drawn with :meth:`sample_pose` when None.
            truncation_psi: Truncation of both paths; a ``[1]`` tensor in an exported graph.
            truncation_cutoff: Truncate only the first ``cutoff`` ws.
            noise_mode: ``"random"``, ``"const"`` (deterministic) or ``"none"``.
            update_w_avg: Update both ``w_avg`` moving averages.
            generator: Random generator of the drawn poses.

        Returns:
            :class:`GeneratorOutput` with ``image`` ``(N, 3, R, R)`` and ``depth`` ``(N, 1, R, R)``, DepthGAN's
            normalised depth (about ``[-1, 1]``, larger farther).
        """
        if pose is None:
            pose = self.sample_pose(z.shape[0], z.device, generator=generator)
        if pose.ndim != 2 or static_int(pose.shape[1]) != 1:
            raise ValueError(f"expected pose of shape (N, 1) (yaw), got {tuple(pose.shape)}")
        ws_depth, ws_rgb = self.map_latents(z, c, truncation_psi, truncation_cutoff, update_w_avg)
        depth, features = self.synthesize_depth(ws_depth, pose, noise_mode)
        image = self.synthesize_rgb(ws_rgb, features, noise_mode)
        return GeneratorOutput(image=image, depth=depth)
