"""GeometryAwareDiscriminator around toy and registered discriminators; build / check helpers for models."""

import copy

import pytest
import torch

from gen3d.models.gans import DynamicDiscriminator, StyleGAN2Discriminator
from gen3d.models.gans.geod import (
    GeometryAwareDiscriminator,
    build_geod_discriminator,
    check_geod_generator,
    geometry_loss,
)
from gen3d.registry import MODELS

from .toys import ToyFeatureD, ToyGenerator, shaded_spheres


def _img(n=3, r=16, seed=0):
    return torch.rand(n, 3, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_outputs_logits_unit_normals_and_positive_depth():
    torch.manual_seed(0)
    d = GeometryAwareDiscriminator(ToyFeatureD(), outputs=("normal", "depth"), head_channels=8)
    assert d.in_channels == (4, 6, 8)  # probed from features at d.module.resolution
    out = d(_img(), pose=torch.zeros(3, 2), alpha=0.5)
    assert out["logits"].shape == (3, 1)
    assert out["normal"].shape == (3, 3, 16, 16) and out["depth"].shape == (3, 1, 16, 16)
    assert torch.allclose(out["normal"].norm(dim=1), torch.ones(3, 16, 16), atol=1e-5)
    assert (out["depth"] > 0).all()
    assert d.module.seen_alpha == 0.5 and d.module.seen_pose is not None  # pose to forward only, alpha to both
    assert set(d(_img(), geometry=False)) == {"logits"}
    assert set(GeometryAwareDiscriminator(ToyFeatureD(), in_channels=(4, 6, 8))(_img())) == {"logits", "normal"}


def test_refuses_a_discriminator_without_features():
    with pytest.raises(TypeError, match="StyleGAN2Discriminator has no features"):
        GeometryAwareDiscriminator(StyleGAN2Discriminator(resolution=16, channel_base=128, channel_max=16))
    with pytest.raises(ValueError, match="outputs"):
        GeometryAwareDiscriminator(ToyFeatureD(), outputs=("albedo",))
    with pytest.raises(ValueError, match="no submodules"):
        GeometryAwareDiscriminator(ToyFeatureD(), feature_layers=("nope",), in_channels=(4,))


def test_progressive_discriminator_with_fewer_levels_uses_the_coarse_head_layers():
    d = GeometryAwareDiscriminator(ToyFeatureD(), in_channels=(4, 6, 8), head_channels=8)
    feats = d.features(_img())
    full = d._decode(feats, (16, 16))["normal"]
    coarse = d._decode(feats[1:], (8, 8))["normal"]  # a lower-resolution phase: no finest level
    assert full.shape == (3, 3, 16, 16) and coarse.shape == (3, 3, 8, 8)
    with pytest.raises(ValueError, match="feature levels"):
        d._decode(feats + feats, (16, 16))


def test_hooked_layers_of_a_registered_discriminator_keep_its_logits_and_survive_deepcopy():
    torch.manual_seed(0)
    base = StyleGAN2Discriminator(resolution=16, channel_base=128, channel_max=16)
    d = GeometryAwareDiscriminator(base, feature_layers=("b16", "b8"), head_channels=8)
    assert d.in_channels == (16, 16)
    img = _img(4)
    out = d(img)
    assert torch.allclose(out["logits"], base(img))
    assert [f.shape[-1] for f in d.features(img)] == [8, 4]
    twin = copy.deepcopy(d)
    assert torch.allclose(twin(img)["normal"], out["normal"])
    assert not hasattr(base.b16, "_geod_output")  # the captured maps are not kept on the module


def test_nvs_head():
    d = GeometryAwareDiscriminator(ToyFeatureD(), in_channels=(4, 6, 8), head_channels=8, nvs_pose_dim=2)
    x2 = d.novel_view(_img(), torch.randn(3, 2))
    assert x2.shape == (3, 3, 16, 16) and x2.abs().max() <= 1
    assert not torch.allclose(x2, d.novel_view(_img(), torch.randn(3, 2) * 3))  # the target pose matters
    with pytest.raises(ValueError, match="target_pose"):
        d.novel_view(_img(), torch.randn(3, 5))
    with pytest.raises(RuntimeError, match="NVS"):
        GeometryAwareDiscriminator(ToyFeatureD(), in_channels=(4, 6, 8)).novel_view(_img(), torch.randn(3, 2))


def test_geometry_head_learns_sphere_normals_from_real_images():
    torch.manual_seed(0)
    imgs, normals, masks = shaded_spheres(4, 16)
    d = GeometryAwareDiscriminator(ToyFeatureD(channels=(8, 8, 8)), in_channels=(8, 8, 8), head_channels=8)
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    target = dict(normal=normals, mask=None)
    losses = []
    for _ in range(30):
        loss = geometry_loss(d.geometry(imgs), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_build_geod_discriminator_like_dynamic_d():
    cfg = dict(type="StyleGAN2Discriminator", resolution=16, channel_base=128, channel_max=16)
    assert isinstance(build_geod_discriminator(cfg, None), StyleGAN2Discriminator)
    geod = dict(outputs=("normal",), head_channels=8, feature_layers=("b16", "b8"), weight_end=0.1, source=dict())
    d = build_geod_discriminator(cfg, geod)  # loss keys (weight_end, source) are the model's, not D's
    assert isinstance(d, GeometryAwareDiscriminator) and d.resolution == 16  # attribute passthrough
    dyn = MODELS.build(dict(type="DynamicDiscriminator", discriminator=cfg, start_ratio=0.5, end_ratio=1.0,
                            total_img=100))
    d = build_geod_discriminator(dyn, dict(head_channels=8, feature_layers=("module.b16", "module.b8")))
    assert isinstance(d.module, DynamicDiscriminator)
    d.set_progress(100)  # DynamicD's schedule reached through the wrapper
    assert d.module.ratio == 1.0
    assert d(_img(2))["normal"].shape == (2, 3, 16, 16)


def test_check_geod_generator_refuses_2d_and_normal_free_generators():
    with pytest.raises(TypeError, match="2D generator"):
        check_geod_generator(ToyGenerator(pose_dim=0))
    with pytest.raises(TypeError, match="no 'normal'"):
        check_geod_generator(ToyGenerator(normals=False))
    gen = ToyGenerator()
    assert check_geod_generator(gen) is gen


def test_check_geod_generator_accepts_pigan():
    gen = MODELS.build(dict(type="PiGANGenerator", z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8,
                            num_steps=6, mapping_hidden=16, avg_samples=64))
    assert check_geod_generator(gen) is gen
