"""GeoD's novel-view task in PiGAN: D's NVS head trains on fake pairs, G's consistency term reaches G through its
second render only (D frozen, target detached), ``nvs_weight=0`` changes nothing, and bad configs are refused."""

import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.models.gans.geod.nvs import NovelViewTask, encode_pose, nvs_discriminator_args
from gen3d.models.gans.pigan import PiGAN

N, R, Z = 2, 8, 8
GEN = dict(type="PiGANGenerator", z_dim=Z, hidden_dim=16, n_layers=2, mapping_hidden=16, img_resolution=R,
           num_steps=3, avg_samples=16)
DISC = dict(type="PiGANDiscriminator", img_resolution=R, width=0.05, latent_dim=0)
RAMP = (0.001, 0.003)  # kimg: images 1 -> 3
GEOD = dict(source=dict(type="DatasetGeometry"), head_channels=4, weight_end=0.0, ramp_kimg=RAMP)  # no G normal term
NVS = {**GEOD, "nvs_weight": 1.0}


def _model(geod):
    torch.manual_seed(0)
    return PiGAN(generator=GEN, discriminator=DISC, r1_gamma=0.0, geod=geod)


def _step(model, seen_img):
    def wrap(m):
        return OptimWrapper(torch.optim.Adam(m.parameters(), 1e-3, betas=(0.0, 0.9)))

    g = torch.Generator().manual_seed(1)
    batch = dict(inputs=[torch.randint(0, 256, (3, R, R), dtype=torch.uint8, generator=g) for _ in range(N)],
                 data_samples=[dict(sample_idx=i, mask=torch.ones(1, R, R),
                                    normal=F.normalize(torch.randn(3, R, R, generator=g), dim=0)) for i in range(N)])
    model.seen_img.fill_(seen_img)
    torch.manual_seed(3)
    return model.train_step(batch, OptimWrapperDict(generator=wrap(model.generator),
                                                    discriminator=wrap(model.discriminator)))


def test_step_trains_the_nvs_head_and_adds_g_consistency_in_the_ramp():
    model = _model(NVS)
    assert model.discriminator.nvs_pose_dim == 4 and model.discriminator.nvs_head.cond.in_features == 4
    head = {k: v.clone() for k, v in model.discriminator.nvs_head.state_dict().items()}
    log = _step(model, seen_img=2)  # half-way up the ramp
    assert math.isfinite(float(log["loss_nvs_d"])) and float(log["loss_nvs_d"]) > 0
    assert math.isfinite(float(log["loss_nvs_g"])) and float(log["loss_nvs_g"]) > 0
    assert any(not torch.equal(v, model.discriminator.nvs_head.state_dict()[k]) for k, v in head.items())
    assert float(_step(_model(NVS), seen_img=0)["loss_nvs_g"]) == 0  # before the ramp: D's term only


@pytest.mark.parametrize("detach", [True, False])
def test_g_consistency_reaches_g_through_the_second_render_and_never_d(detach):
    model = _model(NVS)
    gen, disc = model.generator, model.discriminator
    disc.requires_grad_(False)  # as the G phase's toggle
    z = torch.randn(N, Z)
    with torch.no_grad():
        x1 = gen(z, None, model.sample_pose(N)).image
    x1.requires_grad_(True)  # a leaf: gradients through the pose-1 image show up here, not in G
    task = NovelViewTask(1.0, RAMP, detach_target=detach)
    loss = task.g_phase(disc, x1, z, model.sample_pose, lambda z_, p_: gen(z_, None, p_).image, 0.5, alpha=1.0)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
    assert all(p.grad is None for p in disc.parameters())
    assert (x1.grad is None) == detach


def test_nvs_weight_zero_keeps_the_losses_and_keys():
    plain, off = _model(GEOD), _model({**GEOD, "nvs_weight": 0.0})
    assert off.nvs is None and off.discriminator.nvs_head is None
    assert set(plain.state_dict()) == set(off.state_dict())
    log_plain, log_off = _step(plain, seen_img=2), _step(off, seen_img=2)
    assert not any(k.startswith("loss_nvs") for k in log_off) and set(log_plain) == set(log_off)
    assert all(torch.equal(log_plain[k], log_off[k]) for k in log_plain)


def test_g_weight_follows_the_geometry_ramp_and_pose_code():
    task = NovelViewTask(2.0, (20.0, 60.0), stop_kimg=100.0)
    assert [task.g_weight(k) for k in (0.0, 20.0, 100.0)] == [0.0, 0.0, 0.0]
    assert task.g_weight(40.0) == pytest.approx(1.0) and task.g_weight(80.0) == pytest.approx(2.0)
    assert NovelViewTask(2.0, None).g_weight(1.0) == 2.0
    code = encode_pose(torch.tensor([[0.0, math.pi / 2]]))
    torch.testing.assert_close(code, torch.tensor([[0.0, 1.0, 1.0, 0.0]]), atol=1e-6, rtol=0)


def test_bad_nvs_configs_are_refused():
    assert nvs_discriminator_args(NVS, 2)["nvs_pose_dim"] == 4
    assert "nvs_pose_dim" not in nvs_discriminator_args(GEOD, 2)
    with pytest.raises(ValueError, match="pose encoding"):
        nvs_discriminator_args({**NVS, "nvs_pose_dim": 2}, 2)
    with pytest.raises(ValueError, match="nothing trains"):
        nvs_discriminator_args({**GEOD, "nvs_pose_dim": 4}, 2)
    with pytest.raises(ValueError, match=">= 0"):
        nvs_discriminator_args({**GEOD, "nvs_weight": -1.0}, 2)
    with pytest.raises(ValueError, match="pose encoding"):
        _model({**NVS, "nvs_pose_dim": 3})
    with pytest.raises(ValueError, match="needs a weight"):
        NovelViewTask(0.0)
