"""PiGAN with GeoD: one step adds finite geometry losses that reach D's head and (through the weight) G, the weight
follows the schedule, D's targets are the dataset's normals at the stage size, a learning source steps, plain
checkpoints keep their keys, and a 2D generator under the GeoD config is refused."""

import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.models.gans.geod import GeometryAwareDiscriminator, geod_weight, geometry_loss
from gen3d.models.gans.pigan import PiGAN, PiGANDiscriminator
from gen3d.registry import MODELS
from gen3d.utils.config import load_config
from tests.conftest import REPO_ROOT

N, R, Z = 4, 16, 8
GEN = dict(type="PiGANGenerator", z_dim=Z, hidden_dim=16, n_layers=2, mapping_hidden=16, img_resolution=R,
           num_steps=4, avg_samples=64)
DISC = dict(type="PiGANDiscriminator", img_resolution=R, width=0.05, latent_dim=0)
STAGE = [dict(start_iter=0, resolution=8, num_steps=4)]  # reals and their maps are resized 16 -> 8
RAMP = (0.004, 0.012)  # kimg: images 4 -> 12
GEOD = dict(source=dict(type="DatasetGeometry"), head_channels=4, weight_end=0.1, ramp_kimg=RAMP)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(**kw):
    torch.manual_seed(0)
    model = PiGAN(generator=GEN, discriminator=DISC, curriculum=STAGE, **kw)
    model.generator_ema.load_state_dict(model.generator.state_dict())
    return model


def _optim(model):
    def wrap(m):
        return OptimWrapper(torch.optim.Adam(m.parameters(), 1e-3, betas=(0.0, 0.9)), clip_grad=dict(max_norm=10.0))
    return OptimWrapperDict(generator=wrap(model.generator), discriminator=wrap(model.discriminator))


def _batch(n=N, res=R):
    g = torch.Generator().manual_seed(1)
    mask = torch.zeros(1, res, res)
    mask[:, 2:-2, 2:-2] = 1
    return dict(inputs=[torch.randint(0, 256, (3, res, res), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[dict(sample_idx=i, pose=torch.tensor([1.5, 1.6]), depth=torch.rand(1, res, res),
                                   mask=mask.clone(), normal=F.normalize(torch.randn(3, res, res, generator=g), dim=0))
                              for i in range(n)])


def _step(model, seen_img=0, train_iter=0):
    model.seen_img.fill_(seen_img)
    model.train_iter.fill_(train_iter)
    torch.manual_seed(3)
    return model.train_step(_batch(), _optim(model))


def test_step_adds_finite_geometry_losses_that_train_the_head():
    model = _model(geod=GEOD)
    assert isinstance(model.discriminator, GeometryAwareDiscriminator)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = _step(model, seen_img=8)
    assert {"loss_geo_d", "loss_geo_g", "geod_weight", "loss_d", "loss_g", "r1"} <= set(log)
    assert all(torch.isfinite(v).all() for v in log.values())
    assert log["loss_geo_d"] > 0 and log["loss_geo_g"] > 0
    head = [k for k in before if k.startswith("discriminator.geometry_head.")]
    assert head and any(not torch.equal(before[k], model.state_dict()[k]) for k in head)


def test_d_target_is_the_datasets_masked_normals_at_the_stage_size():
    model = _model(geod=GEOD)
    disc = copy.deepcopy(model.discriminator)  # D before its step: the loss is taken with these weights
    log = _step(model, seen_img=0)
    data = model.data_preprocessor(_batch(), True)
    real = F.interpolate(data["inputs"], size=(8, 8), mode="nearest")
    target = {k: F.interpolate(data[f"real_{k}"], size=(8, 8), mode="nearest") for k in ("normal", "mask")}
    with torch.no_grad():
        expected = geometry_loss(disc.geometry(real, alpha=1.0), target)
    torch.testing.assert_close(log["loss_geo_d"], expected)


def test_g_normal_loss_follows_the_weight_schedule():
    logs = {}
    for seen in (0, 4, 6, 10, 20):  # before, at the ramp's begin (excluded), inside twice, after (the end weight)
        logs[seen] = _step(_model(geod=GEOD), seen_img=seen)
        w = geod_weight(seen / 1e3, 0.0, 0.1, RAMP)
        assert float(logs[seen]["geod_weight"]) == pytest.approx(w)
        assert (float(logs[seen]["loss_geo_g"]) > 0) == (w > 0), seen
    assert float(logs[0]["loss_geo_g"]) == 0 and float(logs[4]["loss_geo_g"]) == 0
    # same seeds, same D step: the unweighted normal L1 is one number, scaled by the weight
    per_weight = [float(logs[s]["loss_geo_g"]) / float(logs[s]["geod_weight"]) for s in (6, 10, 20)]
    assert per_weight == pytest.approx([per_weight[0]] * 3, rel=1e-4)
    # off after stop_kimg, and lazily every `interval` iterations
    assert float(_step(_model(geod={**GEOD, "stop_kimg": 0.015}), seen_img=20)["geod_weight"]) == 0
    assert float(_step(_model(geod={**GEOD, "interval": 2}), seen_img=10, train_iter=1)["geod_weight"]) == 0


def test_g_normal_loss_reaches_the_generator_only_with_a_weight():
    off, on = _model(geod=GEOD), _model(geod=GEOD)
    _step(off, seen_img=0)
    _step(on, seen_img=10)
    s_off, s_on = off.state_dict(), on.state_dict()
    assert all(torch.equal(s_off[k], s_on[k]) for k in s_off if k.startswith("discriminator."))
    assert any(not torch.equal(s_off[k], s_on[k]) for k in s_off if k.startswith("generator."))


def test_learning_source_steps_on_the_reals():
    source = dict(type="InverseRendererGeometry", renderer=dict(resolution=8, nf=4, zdim=8, light_nf=4, conf_nf=4,
                                                                 conf_zdim=8))
    model = _model(geod={**GEOD, "source": source})
    log = _step(model, seen_img=10)
    assert torch.isfinite(log["loss_geo_source"]) and torch.isfinite(log["loss_geo_d"])
    assert int(model.geometry_source.seen_img) == N


def test_plain_state_dict_keys_unchanged_and_geod_checkpoints_round_trip():
    plain = _model()
    keys = set(plain.state_dict())
    bare = PiGANDiscriminator(**{k: v for k, v in DISC.items() if k != "type"})
    assert {k for k in keys if k.startswith("discriminator.")} == {f"discriminator.{k}" for k in bare.state_dict()}
    assert not any("geometry" in k or "geod" in k for k in keys)
    geod = _model(geod=GEOD)
    gkeys = set(geod.state_dict())
    assert {k for k in gkeys if k.startswith("generator")} == {k for k in keys if k.startswith("generator")}
    assert {k for k in gkeys if k.startswith("discriminator.module.")} == {
        k.replace("discriminator.", "discriminator.module.", 1) for k in keys if k.startswith("discriminator.")}
    _step(geod, seen_img=10)
    fresh = _model(geod=GEOD)
    fresh.load_state_dict(geod.state_dict())  # strict
    img = torch.rand(2, 3, 8, 8) * 2 - 1
    with torch.no_grad():
        ref = geod.discriminator(img)["normal"]
        torch.testing.assert_close(fresh.discriminator(img)["normal"], ref)
        torch.testing.assert_close(copy.deepcopy(geod).discriminator(img)["normal"], ref)


def test_geod_config_refuses_a_2d_generator():  # the NVS config checks: test_geod/test_nvs.py
    cfg = load_config(str(REPO_ROOT / "configs/geod/geod_pigan-siren-64x4_1xb8-4kimg_shape3d-32.py"))
    assert cfg.model.geod.source.type == "DatasetGeometry"
    cfg.model.generator = dict(type="StyleGAN2Generator", resolution=16, z_dim=16, w_dim=16, mapping_layers=2,
                               channel_base=128, channel_max=16)
    with pytest.raises(TypeError, match="2D generator"):
        MODELS.build(cfg.model)


def test_tools_train_runs_geod_and_logs_its_losses(tmp_path):
    from tests.conftest import run_tool
    from tests.helpers.pose_data import write_pose_dataset

    root = write_pose_dataset(tmp_path / "shape3d", num=6, size=16)
    config = REPO_ROOT / "tests" / "data" / "configs" / "geod_pigan_tiny.py"
    out = run_tool("train.py", str(config), "--work-dir", str(tmp_path / "work"), "--data-root", str(root))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in (out.stdout + out.stderr).splitlines() if "Iter(train)" in line]
    assert len(lines) == 2 and all("loss_geo_d: " in line for line in lines)
    assert "geod_weight: 0.0000" in lines[0] and "loss_geo_g: 0.0000" in lines[0]  # 0 images seen: before the ramp
    assert "geod_weight: 0.0500" in lines[1] and "loss_geo_g: 0.0000" not in lines[1]  # 2 of the 4-image ramp
