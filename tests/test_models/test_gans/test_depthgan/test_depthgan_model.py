"""DepthGAN's training model at a tiny size: which optimizer each phase steps, losses, refusals, validation outputs."""

import math

import pytest
import torch

from gen3d.engine.optim_wrappers import MultiOptimWrapperConstructor
from gen3d.models.gans.depthgan import DepthGAN
from gen3d.utils.config import ConfigError, check_depth_data

RES = 16
GEN = dict(type="DepthGANGenerator", resolution=RES, z_dim_depth=8, z_dim_rgb=8, w_dim=16, mapping_layers=2,
           channel_base=128, channel_max=16)
DISC = dict(type="DepthGANDiscriminator", resolution=RES, channel_base=128, channel_max=16, mbstd_group_size=2,
            depth_head_resolutions=(16, 8))
ADAM = dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=1e-3, betas=(0.0, 0.99)))
OPTIM = dict(generator_depth=ADAM, generator_rgb=ADAM, discriminator=ADAM)
PARTS = {"generator_depth": ("generator.depth.", "generator.angle_mapping."),
         "generator_rgb": ("generator.rgb.", "generator.injection."), "discriminator": ("discriminator.",)}


def _model(**kw) -> DepthGAN:
    torch.manual_seed(0)
    model = DepthGAN(GEN, DISC, **{"warp_focal": 260.0 * RES / 256, "depth_shift": 0.0, "r1_gamma": 1.0, **kw})
    model.init_weights()
    return model


def _batch(n: int = 4, depth: bool = True) -> dict:
    g = torch.Generator().manual_seed(3)
    imgs = [torch.randint(0, 256, (3, RES, RES), dtype=torch.uint8, generator=g) for _ in range(n)]
    samples = [{"depth": torch.rand(1, RES, RES, generator=g) * 2 - 1, "sample_idx": i} if depth else
               {"sample_idx": i} for i in range(n)]
    return {"inputs": imgs, "data_samples": samples}


def _record(model: DepthGAN) -> list[tuple[str, set[str]]]:
    """Record, at every optimizer step, which parameters carry a non-zero gradient."""
    calls: list[tuple[str, set[str]]] = []
    apply = model.apply_gradients  # every step, step_optimizer's included, goes through it

    def grads() -> set[str]:
        return {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}

    def recorded_apply(optim_wrapper, name):
        calls.append((name, grads()))
        apply(optim_wrapper, name)

    model.apply_gradients = recorded_apply
    return calls


def test_each_phase_steps_its_own_networks():
    model = _model()
    optim = MultiOptimWrapperConstructor(OPTIM)(model)
    calls = _record(model)
    log = model.train_step(_batch(), optim)
    names = [name for name, _ in calls]
    # 1 (both paths), 2 depth, 3 and 4 rgb, 5 and 6 D, 7 R1 (train_iter 0 is an R1 iteration)
    assert names == ["generator_depth", "generator_rgb", "generator_depth", "generator_rgb", "generator_rgb",
                     "discriminator", "discriminator", "discriminator"]
    generators = PARTS["generator_depth"] + PARTS["generator_rgb"]
    assert any(n.startswith(PARTS["generator_rgb"]) for n in calls[0][1])  # phase 1: one backward, both paths
    assert all(n.startswith(generators) for n in calls[0][1])
    for name, touched in calls[1:]:
        assert touched, name
        assert all(n.startswith(PARTS[name]) for n in touched), (name, sorted(touched)[:5])
    assert any(n.startswith("generator.angle_mapping.") for n in calls[2][1])  # the rotation loss reaches cam_p
    assert any(n.startswith("discriminator.depth_head.") for n in calls[6][1])  # D depth loss trains the head
    assert not any(n.startswith("discriminator.depth_head.") for n in calls[5][1])  # the adversarial step does not
    assert any(n.startswith("discriminator.fromdepth.") for n in calls[5][1] | calls[7][1])  # RGBD input for D, R1
    for key in ("loss_g", "loss_rot_depth", "loss_rot_rgb", "loss_g_depth", "loss_d", "loss_d_depth", "loss_r1"):
        assert torch.isfinite(log[key]), key
    assert int(model.train_iter) == 1 and float(log["seen_kimg"]) == pytest.approx(0.004)


def test_zero_weights_skip_their_phases_and_ema_moves():
    model = _model(drot_weight=0.0, rgbrot_weight=0.0, gdepth_weight=0.0, ddepth_weight=0.0, r1_gamma=0.0)
    optim = MultiOptimWrapperConstructor(OPTIM)(model)
    calls = _record(model)
    before = [p.clone() for p in model.generator_ema.parameters()]
    log = model.train_step(_batch(), optim)
    assert [n for n, _ in calls] == ["generator_depth", "generator_rgb", "discriminator"]
    assert "loss_rot_depth" not in log and "loss_d_depth" not in log
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator_ema.parameters()))


def test_rotation_losses_vanish_for_one_view_and_count_both_directions(monkeypatch):
    model = _model(style_mixing_prob=0.0)
    monkeypatch.setattr(model.generator, "sample_pose", lambda n, device=None: torch.full((n, 1), 0.1))
    with torch.no_grad():
        rgb, depth, _ = model.render(4, pairs=True)
    assert torch.equal(rgb[:2], rgb[2:]) and torch.equal(depth[:2], depth[2:])  # pairs share the latents
    same_yaw = torch.full((4, 1), 0.1)
    loss_d, loss_rgb = model.rotation_losses(rgb, depth, same_yaw)
    assert float(loss_d) < 1e-5 and float(loss_rgb) < 1e-5
    yaw = torch.tensor([[0.2], [-0.1], [-0.2], [0.15]])
    loss_d, loss_rgb = model.rotation_losses(rgb, depth, yaw)
    assert float(loss_d) > 1e-4 and float(loss_rgb) > 1e-4
    model.occlusion_aware = True
    occ_d, _ = model.rotation_losses(rgb, depth, yaw)
    assert float(occ_d) > 0 and not torch.allclose(occ_d, loss_d)


def test_refusals_name_the_key():
    model = _model()
    optim = MultiOptimWrapperConstructor(OPTIM)(model)
    with pytest.raises(KeyError, match="LoadRGBDDepth"):
        model.train_step(_batch(depth=False), optim)
    with pytest.raises(KeyError, match="generator_rgb"):
        model.train_step(_batch(), MultiOptimWrapperConstructor(dict(generator_depth=ADAM, discriminator=ADAM))(model))
    with pytest.raises(ValueError, match="generator.yaw_range"):
        DepthGAN({**GEN, "yaw_range": (-math.pi / 2, math.pi / 2)}, DISC)
    with pytest.raises(ValueError, match="dynamic_d"):
        DepthGAN(GEN, DISC, dynamic_d=dict(start_ratio=1.0, end_ratio=0.5, total_img=100))
    with pytest.raises(ValueError, match="drot_weight"):
        DepthGAN(GEN, DISC, drot_weight=-1.0)


def test_config_without_depth_is_refused():
    from mmengine.config import Config

    ok = dict(model=dict(type="DepthGAN"), train_dataloader=dict(dataset=dict(
        type="RGBDDataset", pipeline=[dict(type="LoadGANImage"), dict(type="LoadRGBDDepth")])))
    check_depth_data(Config(ok))
    no_loader = dict(ok, train_dataloader=dict(dataset=dict(type="ImageFolder", pipeline=[dict(type="LoadGANImage")])))
    with pytest.raises(ConfigError, match="train_dataloader.dataset.pipeline"):
        check_depth_data(Config(no_loader))
    no_depth = dict(ok, train_dataloader=dict(dataset=dict(ok["train_dataloader"]["dataset"], with_depth=False)))
    with pytest.raises(ConfigError, match="with_depth"):
        check_depth_data(Config(no_depth))
    check_depth_data(Config(dict(no_loader, model=dict(type="StyleGAN2"))))  # RGB models are not concerned
    single = dict(ok, model=dict(type="DepthGAN", val_pairs=False),
                  val_evaluator=[dict(type="FrechetInceptionDistance")])
    check_depth_data(Config(single))
    for split in ("val_evaluator", "test_evaluator"):
        with pytest.raises(ConfigError, match=f"{split} has RotEval.*model.val_pairs = False"):
            check_depth_data(Config(dict(single, **{split: [dict(type="RotEval")]})))


def test_val_outputs_are_fixed_per_sample_and_carry_both_views():
    model = _model().eval()
    out = model.val_step(_batch(3))
    again = model.val_step(_batch(3))
    assert len(out) == 3
    first = out[0]
    assert first["fake_img"].dtype == torch.uint8 and first["fake_img"].shape == (3, RES, RES)
    assert first["fake_rgbd"].shape == first["fake_rgbd_b"].shape == (4, RES, RES)
    assert first["fake_depth_img"].dtype == torch.uint8 and first["fake_depth_logits"].shape == (10, RES, RES)
    assert first["real_depth"].shape == (1, RES, RES) and first["real_depth_logits"].shape == (10, RES, RES)
    assert first["warp_focal"] == pytest.approx(260.0 * RES / 256) and first["warp_shift"] == 0.0
    assert first["yaw"] != first["yaw_b"] and abs(first["yaw"]) <= math.pi / 12
    assert out[0]["yaw"] != out[1]["yaw"]
    for a, b in zip(out, again):
        assert torch.equal(a["fake_rgbd"], b["fake_rgbd"]) and torch.equal(a["fake_rgbd_b"], b["fake_rgbd_b"])
    assert not torch.equal(first["fake_rgbd"], first["fake_rgbd_b"])
    no_depth = model.val_step(_batch(2, depth=False))
    assert "real_depth" not in no_depth[0] and "fake_depth_logits" in no_depth[0]
    model.val_pairs = False  # one view per latent: the same first view, no second one
    single = model.val_step(_batch(3))
    assert "fake_rgbd_b" not in single[0] and "yaw_b" not in single[0]
    assert torch.equal(single[0]["fake_rgbd"], first["fake_rgbd"]) and single[0]["yaw"] == first["yaw"]
