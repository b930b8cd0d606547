import copy

import pytest
import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

from gen3d.engine.optim_wrappers import MultiOptimWrapperConstructor
from gen3d.engine.runner import check_ddp_supports_model
from gen3d.models.gans import GANDataPreprocessor, StyleGAN2
from gen3d.models.gans.data_preprocessor import sample_field
from gen3d.registry import MODELS

R, Z, B = 16, 16, 4
G_CFG = dict(type="StyleGAN2Generator", resolution=R, z_dim=Z, w_dim=Z, mapping_layers=2, channel_base=256,
             channel_max=32)
D_CFG = dict(type="StyleGAN2Discriminator", resolution=R, channel_base=256, channel_max=32, mbstd_group_size=2)


def _model(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("ema_kimg", 0.01)
    return MODELS.build(dict(type="StyleGAN2", generator=dict(G_CFG, **kwargs.pop("g", {})),
                             discriminator=dict(D_CFG, **kwargs.pop("d", {})), **kwargs))


def _optim(model, lr=0.002, d_lr=None):
    def adam(module, rate):
        return OptimWrapper(torch.optim.Adam(module.parameters(), lr=rate, betas=(0.0, 0.99)))
    return OptimWrapperDict(generator=adam(model.generator, lr), discriminator=adam(model.discriminator,
                                                                                    lr if d_lr is None else d_lr))


def _batch(n=B, seed=0, labels=None):
    g = torch.Generator().manual_seed(seed)
    samples = [dict(sample_idx=i, gt_label=-1 if labels is None else labels[i]) for i in range(n)]
    return dict(inputs=[torch.randint(0, 256, (3, R, R), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=samples)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_train_step_updates_generator_discriminator_and_ema():
    model = _model()
    g0, d0, e0 = _params(model.generator), _params(model.discriminator), _params(model.generator_ema)
    log = model.train_step(_batch(), _optim(model))
    assert _changed(g0, model.generator) and _changed(d0, model.discriminator) and _changed(e0, model.generator_ema)
    # EMA lies between the old weights and the new generator: beta = 0.5 ** (4 / 10)
    beta = 0.5 ** (B / 10)
    for e_old, e_new, g_new in zip(e0, model.generator_ema.parameters(), model.generator.parameters()):
        assert torch.allclose(e_new, g_new + (e_old - g_new) * beta, atol=1e-6)
    assert {"loss_g", "loss_d", "d_real", "d_fake", "r1", "loss_r1", "pl", "loss_pl", "pl_mean"} <= set(log)
    assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log.values())
    assert int(model.seen_img) == B and int(model.train_iter) == 1
    assert all(p.requires_grad for p in model.generator.parameters())  # toggled back after the step
    assert not any(p.requires_grad for p in model.generator_ema.parameters())


def test_regularisers_run_every_interval_and_seen_img_counts():
    model = _model(r1_interval=3, pl_interval=2)
    optim = _optim(model)
    logs = [model.train_step(_batch(seed=i), optim) for i in range(5)]
    assert [("r1" in log) for log in logs] == [True, False, False, True, False]
    assert [("pl" in log) for log in logs] == [True, False, True, False, True]
    assert int(model.seen_img) == 5 * B and int(model.train_iter) == 5
    assert float(logs[-1]["seen_kimg"]) == pytest.approx(5 * B / 1000)


def test_r1_value_matches_manual_gradient():
    model = _model(pl_weight=0.0, style_mixing_prob=0.0)
    batch = _batch()
    disc = copy.deepcopy(model.discriminator)  # D lr 0: the main D step leaves D unchanged before R1
    log = model.train_step(batch, _optim(model, d_lr=0.0))
    real = (torch.stack(batch["inputs"]).float() / 127.5 - 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(disc(real).sum(), real)
    manual = grad.square().sum(dim=(1, 2, 3)).mean()
    assert float(log["r1"]) == pytest.approx(float(manual), rel=1e-4)
    assert float(log["loss_r1"]) == pytest.approx(float(manual) * 10.0 / 2, rel=1e-4)  # gamma / 2


def test_r1_step_is_scaled_by_the_interval():
    # With plain SGD the R1 step moves D by lr * interval * gamma / 2 * grad(mean r1) (second-order gradient).
    model = _model(pl_weight=0.0, r1_interval=4, r1_gamma=2.0)
    disc, batch = model.discriminator, _batch()
    real = model.data_preprocessor(batch)["inputs"]
    probe = copy.deepcopy(disc)
    r1 = StyleGAN2.r1_penalty(probe, real, None).mean() * (2.0 / 2) * 4
    grads = torch.autograd.grad(r1, list(probe.parameters()), allow_unused=True)  # output bias: no R1 gradient
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(probe.parameters(), grads)]
    d_opt = OptimWrapper(torch.optim.SGD(disc.parameters(), lr=1e-3))
    before = _params(disc)
    d_opt.zero_grad()
    model.step_optimizer(OptimWrapperDict(discriminator=d_opt), "discriminator",
                         StyleGAN2.r1_penalty(disc, real, None).mean() * (2.0 / 2) * 4)
    for b, p, g in zip(before, disc.parameters(), grads):
        assert torch.allclose(b - 1e-3 * g, p, atol=1e-6)


def test_path_length_buffer_follows_its_ema():
    model = _model(r1_gamma=0.0, pl_interval=2, pl_decay=0.5)
    optim = _optim(model)
    log0 = model.train_step(_batch(), optim)
    assert float(model.pl_mean) == pytest.approx(0.5 * float(log0["pl"]), rel=1e-5)  # lerp(0, pl, 0.5)
    after0 = model.pl_mean.clone()
    model.train_step(_batch(seed=1), optim)
    assert torch.equal(model.pl_mean, after0)  # not a path-length iteration
    log2 = model.train_step(_batch(seed=2), optim)
    assert float(model.pl_mean) == pytest.approx(float(after0 + 0.5 * (log2["pl"] - after0)), rel=1e-5)
    assert "pl_mean" in model.state_dict() and "seen_img" in model.state_dict()


def test_dynamic_d_ratio_follows_seen_img():
    model = _model(dynamic_d=dict(start_ratio=1.0, end_ratio=0.5, total_img=4 * B, random_select=True,
                                  keep_layers=4))
    assert type(model.discriminator).__name__ == "DynamicDiscriminator"
    optim = _optim(model)
    ratios = [float(model.train_step(_batch(seed=i), optim)["ratio"]) for i in range(6)]
    assert ratios == pytest.approx([1.0, 0.875, 0.75, 0.625, 0.5, 0.5])
    assert model.discriminator.ratio == pytest.approx(0.5)
    assert any(k.startswith("discriminator.module.") for k in model.state_dict())  # the wrapped D's weights


def test_conditional_training_and_sampling():
    model = _model(g=dict(c_dim=3), d=dict(c_dim=3))
    log = model.train_step(_batch(labels=[0, 1, 2, 1]), _optim(model))
    assert torch.isfinite(log["loss_g"])
    out = model.val_step(_batch(labels=[0, 1, 2, 1]))
    assert len(out) == B and out[0]["fake_img"].shape == (3, R, R)
    with pytest.raises(ValueError, match="gt_label"):
        model.train_step(_batch(), _optim(model))


def test_val_step_outputs_fixed_uint8_fakes_per_sample_index():
    model = _model()
    out = model.val_step(_batch())
    assert len(out) == B
    for item in out:
        assert set(item) == {"fake_img", "real_img"}
        assert item["fake_img"].dtype == torch.uint8 and item["fake_img"].shape == (3, R, R)
        assert item["real_img"].dtype == torch.uint8 and item["real_img"].shape == (3, R, R)
    again = model.val_step(_batch())
    assert all(torch.equal(a["fake_img"], b["fake_img"]) for a, b in zip(out, again))
    assert not torch.equal(out[0]["fake_img"], out[1]["fake_img"])
    shifted = _batch()
    shifted["data_samples"] = [dict(sample_idx=i + 1) for i in range(B)]
    assert torch.equal(model.val_step(shifted)[0]["fake_img"], out[1]["fake_img"])  # latent follows the index
    assert torch.equal(model.test_step(_batch())[0]["real_img"], _batch()["inputs"][0])
    capped = _model(num_val_fakes=3)
    assert len(capped.val_step(_batch())) == 3


def test_val_step_without_sample_index_counts_per_run():
    model = _model()
    batch = dict(inputs=torch.stack(_batch()["inputs"]))  # default_collate style, no data_samples
    first = model.val_step(batch)
    second = model.val_step(batch)
    assert not torch.equal(first[0]["fake_img"], second[0]["fake_img"])  # indices 0.. then B..
    model.eval()  # a new validation run restarts the count
    assert torch.equal(model.val_step(batch)[0]["fake_img"], first[0]["fake_img"])


def test_forward_samples_the_ema_generator():
    model = _model().eval()
    z = torch.randn(2, Z)
    img = model(z).image
    assert img.shape == (2, 3, R, R)
    assert torch.equal(img, model.generator_ema(z, None, noise_mode="const").image)
    with pytest.raises(ValueError, match="mode='tensor' only"):
        model(z, mode="loss")
    with pytest.raises(ValueError, match="latents"):
        model(torch.randn(2, Z + 1))


def test_data_preprocessor_maps_uint8_to_unit_range_and_keeps_reals():
    pre = GANDataPreprocessor()
    imgs = [torch.tensor([[[0, 255]]], dtype=torch.uint8)] * 2
    out = pre(dict(inputs=imgs, data_samples=dict(gt_label=[-1, -1])))
    assert out["inputs"].dtype == torch.float32 and out["inputs"].shape == (2, 1, 1, 2)
    assert out["inputs"][0, 0, 0].tolist() == [-1.0, 1.0]
    assert torch.equal(out["real_img"], torch.stack(imgs))
    assert torch.equal(pre(dict(inputs=torch.stack(imgs)))["inputs"], out["inputs"])
    with pytest.raises(TypeError, match="uint8"):
        pre(dict(inputs=torch.rand(2, 3, 4, 4)))
    assert sample_field(dict(gt_label=torch.tensor([1, 2])), "gt_label", 2) == [1, 2]
    assert sample_field([dict(sample_idx=3), dict()], "sample_idx", 2) == [3, None]


def test_optimizers_are_built_per_submodule_and_ddp_check():
    model = _model()
    wrappers = MultiOptimWrapperConstructor(dict(
        generator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=0.0016, betas=(0.0, 0.99))),
        discriminator=dict(type="OptimWrapper", optimizer=dict(type="Adam", lr=0.0019, betas=(0.0, 0.99)))))(model)
    assert set(wrappers.keys()) == {"generator", "discriminator"}
    g_params = {id(p) for group in wrappers["generator"].optimizer.param_groups for p in group["params"]}
    assert g_params == {id(p) for p in model.generator.parameters()}
    with pytest.raises(AttributeError, match="no submodule"):
        MultiOptimWrapperConstructor(dict(encoder=dict(optimizer=dict(type="SGD", lr=0.1))))(model)
    check_ddp_supports_model(model, "MMSeparateDistributedDataParallel")
    with pytest.raises(TypeError, match="MMSeparateDistributedDataParallel"):
        check_ddp_supports_model(model, "MMDistributedDataParallel")
