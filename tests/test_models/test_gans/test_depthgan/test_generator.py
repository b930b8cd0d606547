"""DepthGAN's dual-path generator at a tiny size: shapes, yaw path, depth-feature injection, gradients, interface."""

import math

import pytest
import torch

from gen3d.models.gans.depthgan import DepthGANGenerator
from gen3d.models.gans.depthgan.generator_layers import AngleMapping, FeatureInjection, embed_angle
from gen3d.models.gans.generator_output import check_generator
from gen3d.models.gans.sampling import generate_outputs, seed_latents, seed_poses
from gen3d.models.gans.stylegan2 import StyleGAN2Generator
from gen3d.registry import MODELS

# 16 px: 5 synthesis convs (num_ws 6), channels min(128 // r, 16) = 16, 16, 8
TINY = dict(resolution=16, z_dim_depth=8, z_dim_rgb=12, w_dim=16, mapping_layers=2, channel_base=128,
            channel_max=16)


def _g(**kw) -> DepthGANGenerator:
    torch.manual_seed(0)
    gen = DepthGANGenerator(**{**TINY, **kw})
    for p in gen.parameters():  # noise strengths start at 0: make them count, so noise modes differ
        if p.ndim == 0:
            p.data.fill_(0.1)
    return gen


def _z(n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 20, generator=torch.Generator().manual_seed(seed))


def test_shapes_interface_and_layout():
    gen = _g()
    assert (gen.z_dim, gen.c_dim, gen.pose_dim, gen.img_resolution, gen.img_channels) == (20, 0, 1, 16, 3)
    assert gen.num_ws == 6 and len(gen.injection) == 5 and gen.depth_kind == "z"
    assert [m.channels for m in gen.injection] == [16, 16, 16, 8, 8]  # b4.conv1, b8.conv0/1, b16.conv0/1
    assert gen.depth.img_channels == 1 and gen.rgb.img_channels == 3
    assert (gen.depth.z_dim, gen.rgb.z_dim) == (8, 12)
    z, pose = _z(), torch.tensor([[0.1], [-0.2]])
    out = gen(z, None, pose, noise_mode="const")
    assert out.image.shape == (2, 3, 16, 16) and out.depth.shape == (2, 1, 16, 16)
    assert torch.isfinite(out.image).all() and torch.isfinite(out.depth).all()
    z_depth, z_rgb = gen.split_latent(z)
    assert torch.equal(z_depth, z[:, :8]) and torch.equal(z_rgb, z[:, 8:])
    with pytest.raises(ValueError):
        gen(z[:, :12], None, pose)  # z must be [z_depth, z_rgb]
    with pytest.raises(ValueError):
        gen(z, None, torch.zeros(2, 2))  # the pose is the yaw alone
    with pytest.raises(ValueError):
        DepthGANGenerator(**{**TINY, "resolution": 4})


def test_defaults_are_depthgan():
    gen_defaults = DepthGANGenerator.__init__.__defaults__
    assert gen_defaults[:4] == (512, 512, 512, 0) and gen_defaults[5:7] == (16384, 512)
    assert gen_defaults[7] == (-math.pi / 12, math.pi / 12)
    emb = embed_angle(torch.tensor([[0.3]]))
    ks = torch.arange(1, 5) * 0.3
    assert torch.allclose(emb, torch.stack([ks.sin(), ks.cos()], 1).reshape(1, 8))  # [sin a, cos a, sin 2a, ...]
    cam = AngleMapping(16)
    assert (cam.fc0.in_features, cam.fc0.activation, cam.fc1.activation, cam.fc0.lr_multiplier) == (8, "lrelu",
                                                                                                     "lrelu", 0.01)
    inj = FeatureInjection(8)
    assert inj.gamma.weight.shape == (8, 16, 1, 1) and inj.beta.weight.shape == (8, 8, 1, 1)
    assert (inj.gamma.activation, inj.beta.activation) == ("lrelu", "linear")
    assert inj.gamma.weight.std() < 0.3  # N(0, 1) / 10


def test_yaw_changes_the_depth_path_only_through_convs_0_to_2():
    gen = _g()
    z = _z()
    ws_depth, _ = gen.map_latents(z)
    d1, f1 = gen.synthesize_depth(ws_depth, torch.full((2, 1), 0.2), "const")
    d2, f2 = gen.synthesize_depth(ws_depth, torch.full((2, 1), -0.2), "const")
    assert not torch.allclose(d1, d2) and not torch.allclose(f1[0], f2[0])
    assert len(f1) == 5 and [tuple(f.shape[1:]) for f in f1] == [(16, 4, 4), (16, 8, 8), (16, 8, 8), (8, 16, 16),
                                                                 (8, 16, 16)]
    # cam_p multiplies the w of convs 0-2 only: the same depth through the plain synthesis with those w scaled
    cam_p = gen.angle_mapping(torch.full((2, 1), 0.2)).unsqueeze(1)
    conv_ws = torch.cat([ws_depth[:, :3] * cam_p, ws_depth[:, 3:]], 1)
    assert torch.equal(d1, gen.depth.synthesis(ws_depth, "const", conv_ws=conv_ws))
    assert not torch.allclose(d1, gen.depth.synthesis(conv_ws, "const"))  # the ToRGBs keep the unscaled w
    out1, out2 = gen(z, None, torch.full((2, 1), 0.2), noise_mode="const"), gen(z, None, torch.full((2, 1), -0.2),
                                                                                 noise_mode="const")
    assert not torch.allclose(out1.image, out2.image)  # the yaw reaches the image through the injected features


def test_injected_depth_features_change_the_rgb_output():
    gen = _g()
    z, pose = _z(), torch.zeros(2, 1)
    ws_depth, ws_rgb = gen.map_latents(z)
    _, feats = gen.synthesize_depth(ws_depth, pose, "const")
    img = gen.synthesize_rgb(ws_rgb, feats, "const")
    assert torch.equal(img, gen(z, None, pose, noise_mode="const").image)
    zeroed = gen.synthesize_rgb(ws_rgb, [torch.zeros_like(f) for f in feats], "const")
    assert not torch.allclose(img, zeroed)
    other = gen.synthesize_rgb(ws_rgb, [f.flip(0) for f in feats], "const")  # the other sample's depth
    assert not torch.allclose(img, other)
    with pytest.raises(ValueError):
        gen.synthesize_rgb(ws_rgb, feats[:-1])


def test_gradients_reach_both_mappings_and_the_injection():
    gen = _g().train()
    out = gen(_z(4), None, gen.sample_pose(4), update_w_avg=True)
    out.image.square().mean().backward()  # the image loss alone reaches the depth path through the injection
    for name in ("depth.mapping.fc0.weight", "rgb.mapping.fc0.weight", "angle_mapping.fc0.weight",
                 "injection.0.gamma.weight", "injection.4.beta.weight", "depth.synthesis.b8.conv0.weight"):
        grad = gen.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert gen.depth.mapping.w_avg.abs().sum() > 0 and gen.rgb.mapping.w_avg.abs().sum() > 0
    gen.zero_grad()
    gen(_z(4), None, gen.sample_pose(4)).depth.mean().backward()
    assert gen.depth.mapping.fc0.weight.grad.abs().sum() > 0 and gen.rgb.mapping.fc0.weight.grad is None


def test_const_noise_is_deterministic_and_random_noise_is_not():
    gen = _g()
    z, pose = _z(), torch.full((2, 1), 0.1)
    a, b = gen(z, None, pose, noise_mode="const"), gen(z, None, pose, noise_mode="const")
    assert torch.equal(a.image, b.image) and torch.equal(a.depth, b.depth)
    c = gen(z, None, pose, noise_mode="random")
    assert not torch.allclose(a.image, c.image)
    assert gen(z, None, pose, truncation_psi=0.0, noise_mode="const").image.shape == (2, 3, 16, 16)


def test_sample_pose_is_uniform_in_the_configured_range_and_seeded():
    gen = _g(yaw_range=(-0.5, 0.25))
    yaw = gen.sample_pose(2000)
    assert yaw.shape == (2000, 1) and yaw.min() >= -0.5 and yaw.max() <= 0.25 and abs(yaw.mean() + 0.125) < 0.02
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(gen.sample_pose(5, "cpu", generator=g1), gen.sample_pose(5, "cpu", generator=g2))
    dist = gen.pose_distribution()
    assert dist["order"] == ["yaw"] and dist["mode"] == "uniform"
    assert math.isclose(dist["yaw_mean"], -0.125) and math.isclose(dist["yaw_std"], 0.375)
    assert gen(_z()).image.shape == (2, 3, 16, 16)  # the pose drawn when None


def test_registry_check_generator_and_sampling():
    gen = MODELS.build(dict(type="DepthGANGenerator", **TINY)).eval()
    assert check_generator(gen) is gen
    seeds = [0, 1, 2]
    z, pose = seed_latents(seeds, gen.z_dim), seed_poses(gen, seeds)
    assert pose.shape == (3, 1) and torch.equal(pose, seed_poses(gen, seeds))
    out = generate_outputs(gen, z, None, pose, batch_size=2)
    assert out.image.shape == (3, 3, 16, 16) and out.depth.shape == (3, 1, 16, 16)
    again = generate_outputs(gen, z, None, pose, batch_size=3)
    # another batching: equal up to float summation order
    assert torch.allclose(out.image, again.image, atol=1e-6) and torch.allclose(out.depth, again.depth, atol=1e-6)


def test_stylegan2_hooks_are_inert_by_default():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, z_dim=8, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16)
    for p in gen.parameters():
        if p.ndim == 0:
            p.data.fill_(0.1)
    ws = gen.mapping(torch.randn(2, 8), None)
    plain = gen.synthesis(ws, "const")
    seen = []

    def identity(layer: int, x: torch.Tensor) -> torch.Tensor:
        seen.append(layer)
        return x

    assert torch.equal(plain, gen.synthesis(ws, "const", conv_ws=ws.clone(), layer_hook=identity))
    assert seen == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        gen.synthesis(ws, "const", conv_ws=ws[:, :-1])
