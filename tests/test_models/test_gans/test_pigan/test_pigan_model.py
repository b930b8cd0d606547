"""PiGAN: one train step updates G and D (pose loss on/off), R1 and top-k in closed form, the EMA decay mapping,
the curriculum (stage, alpha, lr, render settings restored), validation outputs the geometry metrics read, and the
data preprocessor's geometry keys."""

import math

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from gen3d.evaluation.metrics.multiview_metric import MultiViewConsistency
from gen3d.models.gans import GANDataPreprocessor
from gen3d.models.gans.pigan import PiGAN
from gen3d.models.gans.pigan.topk import topk_fraction, topk_logits

torch.set_num_threads(1)
N, R, Z = 4, 8, 8
GEN = dict(type="PiGANGenerator", z_dim=Z, hidden_dim=16, n_layers=2, mapping_hidden=16, img_resolution=R,
           num_steps=4, avg_samples=64)
DISC = dict(type="PiGANDiscriminator", img_resolution=R, width=0.05, latent_dim=0)


class LinearD(nn.Module):
    """``D(x) = <w, x>`` (so ``grad_x D = w`` and R1 = ``|w|^2``) with a constant pose prediction."""

    def __init__(self, res: int = R) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1, 1, 3 * res * res))
        self.p = nn.Parameter(torch.zeros(2))

    def forward(self, img, c=None, pose=None, alpha=1.0):
        return {"logit": (img.flatten(1) * self.w).sum(1, keepdim=True), "pose": self.p.expand(len(img), 2)}


def _model(disc=DISC, **kw):
    torch.manual_seed(0)
    model = PiGAN(generator=GEN, discriminator=disc, **kw)
    model.generator_ema.load_state_dict(model.generator.state_dict())
    return model


def _optim(model):
    def wrap(m):
        return OptimWrapper(torch.optim.Adam(m.parameters(), 1e-3, betas=(0.0, 0.9)), clip_grad=dict(max_norm=10.0))
    return OptimWrapperDict(generator=wrap(model.generator), discriminator=wrap(model.discriminator))


def _batch(n=N, res=R):
    g = torch.Generator().manual_seed(1)
    return dict(inputs=[torch.randint(0, 256, (3, res, res), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[dict(sample_idx=i, pose=torch.tensor([1.5, 1.6]), depth=torch.rand(1, res, res),
                                   mask=torch.ones(res, res)) for i in range(n)])


@pytest.mark.parametrize("pose_weight", [15.0, 0.0])
def test_one_train_step_updates_generator_and_discriminator(pose_weight):
    model = _model(pose_weight=pose_weight)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = model.train_step(_batch(), _optim(model))
    assert all(torch.isfinite(v).all() for v in log.values())
    assert {"loss_d", "loss_g", "r1", "loss_r1", "topk", "alpha", "noise_std"} <= set(log)
    assert ("loss_pose_d" in log and "loss_pose_g" in log) == (pose_weight > 0)
    state = model.state_dict()
    for prefix in ("generator.", "discriminator.", "generator_ema."):
        assert any(not torch.equal(before[k], state[k]) for k in state if k.startswith(prefix)), prefix
    assert int(model.train_iter) == 1 and int(model.seen_img) == N
    assert log["noise_std"] == 1.0  # max(0, 1 - 0 / 5000) at the first step


def test_r1_is_gamma_half_squared_input_gradient():
    model = _model(disc=LinearD(), r1_gamma=0.2, pose_weight=0.0)
    w = model.discriminator.w.detach().clone()
    log = model.train_step(_batch(), _optim(model))
    assert torch.allclose(log["r1"], w.square().sum(), rtol=1e-5)
    assert torch.allclose(log["loss_r1"], 0.1 * w.square().sum(), rtol=1e-5)
    model = _model(disc=LinearD(), r1_gamma=0.0)
    assert "r1" not in model.train_step(_batch(), _optim(model))


def test_lazy_r1_runs_every_interval():
    model = _model(disc=LinearD(), r1_interval=2, pose_weight=0.0)
    optim = _optim(model)
    assert ["r1" in model.train_step(_batch(), optim) for _ in range(3)] == [True, False, True]


def test_topk_fraction_and_selection_closed_form():
    assert topk_fraction(0) == 1.0 and math.isclose(topk_fraction(2000), 0.99)
    assert math.isclose(topk_fraction(20000), 0.99**10) and topk_fraction(10**6) == 0.6
    logits = torch.tensor([[0.5], [-1.0], [2.0], [0.1], [3.0]])
    assert torch.equal(topk_logits(logits, 0.6), torch.tensor([[3.0], [2.0], [0.5]]))  # ceil(0.6 * 5) = 3
    assert torch.equal(topk_logits(logits, 0.01), torch.tensor([[3.0]]))
    model = _model()
    model.train_iter.fill_(10**6)
    assert model.train_step(_batch(), _optim(model))["topk"] == pytest.approx(0.6)


def test_ema_decay_is_torch_ema_with_warmup():
    model = _model()
    gen = model.generator
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(1.0)
    ema0 = [p.clone() for p in model.generator_ema.parameters()]
    assert model.ema_update(gen, 56) == pytest.approx(2 / 11)  # min(0.999, (1 + 1) / (10 + 1))
    for p0, p_ema, p in zip(ema0, model.generator_ema.parameters(), gen.parameters()):
        assert torch.allclose(p_ema, p0 * 2 / 11 + p * 9 / 11, atol=1e-6)
    model.train_iter.fill_(10**5)
    assert model.ema_update(gen, 56) == pytest.approx(0.999)
    assert model.ema_kimg == pytest.approx(56 * math.log(0.5) / math.log(0.999) / 1000)


def test_curriculum_stage_alpha_lr_and_render_settings():
    stages = [dict(start_iter=0, resolution=4, batch_size=2, num_steps=3, lr_g=1e-4, lr_d=3e-4, fade_steps=4),
              dict(start_iter=2, resolution=8, batch_size=3, fade_steps=0, batch_split=3)]
    model = _model(curriculum=stages)
    assert model.stage(1)["alpha"] == 0.25 and model.stage(1)["index"] == 0
    assert model.stage(2)["alpha"] == 1.0 and model.stage(2)["index"] == 1
    optim = _optim(model)
    log = model.train_step(_batch(), optim)
    assert log["resolution"] == 4 and int(model.seen_img) == 2 and log["alpha"] == 0.0
    assert optim["generator"].param_groups[0]["lr"] == 1e-4 and optim["discriminator"].param_groups[0]["lr"] == 3e-4
    r = model.generator.renderer
    assert r.resolution == (R, R) and r.num_steps == 4 and r.num_fine == 4  # restored after the step
    model.train_step(_batch(), optim)
    assert model.train_step(_batch(), optim)["resolution"] == 8 and int(model.seen_img) == 2 + 2 + 3
    with pytest.raises(ValueError, match="largest stage batch"):
        model.train_step(_batch(n=2), optim)
    with pytest.raises(ValueError, match="begin at 0"):
        _model(curriculum=[dict(start_iter=5)])
    with pytest.raises(ValueError, match="unknown curriculum keys"):
        _model(curriculum=[dict(start_iter=0, img_size=64)])


def test_val_step_outputs_geometry_two_views_and_feeds_multiview_consistency():
    model = _model().eval()
    model.generator_ema.avg_frequencies.zero_()
    outs = model.val_step(_batch())
    assert model.generator_ema.avg_frequencies.abs().sum() > 0  # update_avg_frequencies before validation
    o = outs[0]
    assert o["fake_img"].dtype == torch.uint8 and o["fake_img"].shape == (3, R, R) and o["real_img"].shape == (3, R, R)
    assert o["fake_depth"].shape == o["fake_mask"].shape == o["fake_depth_b"].shape == (1, R, R)
    assert o["fake_normal"].shape == (3, R, R) and o["cam2world"].shape == o["cam2world_b"].shape == (4, 4)
    assert o["fov"] == 12.0 and not torch.equal(o["cam2world"], o["cam2world_b"])
    again = model.val_step(_batch())  # fixed by (val_seed, sample_idx)
    assert all(torch.equal(a["fake_img"], b["fake_img"]) for a, b in zip(outs, again))
    metric = MultiViewConsistency(depth_kind="ray", use_mask=False)
    metric.process(None, outs)
    assert set(metric.compute_metrics(metric.results)) == {"mv_photometric_l1", "mv_depth_rel_error",
                                                           "mv_valid_fraction"}
    assert "fake_img_b" not in _model(val_yaw_delta=None).eval().val_step(_batch())[0]


def test_data_preprocessor_stacks_pose_geometry():
    pre = GANDataPreprocessor()
    batch = _batch(n=2)
    out = pre(batch)
    assert out["real_depth"].shape == (2, 1, R, R) and out["real_mask"].shape == (2, 1, R, R)
    assert torch.equal(out["real_pose"], torch.tensor([[1.5, 1.6]] * 2)) and "real_normal" not in out
    dict_of_lists = dict(inputs=batch["inputs"], data_samples={"pose": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
                                                               "normal": [torch.zeros(3, R, R)] * 2})
    out = pre(dict_of_lists)
    assert out["real_pose"].shape == (2, 2) and out["real_normal"].shape == (2, 3, R, R)
    plain = pre(dict(inputs=batch["inputs"], data_samples=[dict(sample_idx=0), dict(sample_idx=1, depth=None)]))
    assert set(plain) == {"inputs", "real_img", "data_samples"}
