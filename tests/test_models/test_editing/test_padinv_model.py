"""PadInv model: a frozen StyleGAN2 from a checkpoint, encode / decode / reconstruct, train steps (E, E + D), the loss
terms and their switches, checkpoints that rebuild exactly, refusals naming the argument."""

import sys
import types
import warnings

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict

import gen3d.models  # noqa: F401 - registers the GAN modules
from gen3d.models.editing.padinv import PadInv, PadInvLoss, load_padinv_checkpoint, wnorm_loss
from gen3d.registry import MODELS
from gen3d.utils import load_local_checkpoint
from tests.helpers.gan import make_tiny_gan_checkpoint

ENCODER = dict(backbone="light", backbone_cfg=dict(widths=(8, 16, 16)), fpn_channels=16, padding_level=2)
NO_PRETRAINED = dict(lpips_weight=0.0, id_weight=0.0)


@pytest.fixture(scope="module")
def gan_ckpt(tmp_path_factory):
    return str(make_tiny_gan_checkpoint(tmp_path_factory.mktemp("gan") / "gan.pth"))


def _model(gan_ckpt, use_padding=True, **kw):
    torch.manual_seed(0)
    return PadInv(generator_ckpt=gan_ckpt, use_padding=use_padding, encoder=ENCODER, loss=kw.pop("loss", NO_PRETRAINED),
                  **kw)


def _adam(module, lr=1e-3):
    return OptimWrapper(torch.optim.Adam(module.parameters(), lr=lr))


def _batch(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"inputs": torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8), "data_samples": None}


def test_generator_is_the_frozen_ema_generator_of_the_checkpoint(gan_ckpt):
    model = _model(gan_ckpt)
    state = load_local_checkpoint(gan_ckpt)["state_dict"]
    for k, v in model.generator.state_dict().items():
        assert torch.equal(v, state[f"generator_ema.{k}"]), k
    assert not any(p.requires_grad for p in model.generator.parameters())
    assert torch.equal(model.encoder.w_avg, model.generator.mapping.w_avg) and model.encoder.w_avg.abs().sum() > 0
    assert model.use_padding and not _model(gan_ckpt, use_padding=False).use_padding
    model.train()
    assert not model.generator.training and model.encoder.training


def test_encode_decode_reconstruct(gan_ckpt):
    model = _model(gan_ckpt).eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    wplus, maps = model.encode(x)
    assert wplus.shape == (2, 6, 16) and set(maps) == {"const", 0, 2, 4}
    img = model.decode(wplus, maps)
    assert img.shape == (2, 3, 16, 16) and torch.equal(img, model.reconstruct(x)) and torch.equal(img, model(x))
    assert not torch.allclose(img, model.decode(wplus, None))
    plain = _model(gan_ckpt, use_padding=False).eval()
    assert plain.encode(x)[1] is None and plain.reconstruct(x).shape == (2, 3, 16, 16)


def test_bad_inputs_name_the_argument(gan_ckpt, tmp_path):
    model = _model(gan_ckpt)
    with pytest.raises(ValueError, match=r"img must be \(N, 3, 16, 16\)"):
        model.encode(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"img must be \(N, 3, 16, 16\)"):
        model.reconstruct(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"wplus must be \(N, 6, 16\)"):
        model.decode(torch.rand(2, 5, 16))
    with pytest.raises(ValueError, match="mode='tensor'"):
        model(torch.rand(2, 3, 16, 16), mode="loss")
    with pytest.raises(ValueError, match="generator_ckpt is required"):
        PadInv(encoder=ENCODER)
    with pytest.raises(FileNotFoundError, match="generator_ckpt"):
        PadInv(generator_ckpt=str(tmp_path / "missing.pth"), encoder=ENCODER)
    # a GAN whose generator is not a StyleGAN2 (BigGAN: no synthesis / w_avg) is refused naming generator_ckpt
    cfg = Config(dict(default_scope="gen3d", model=dict(
        type="BigGAN", generator=dict(type="BigGANGenerator", resolution=16, z_dim=12, c_dim=3, shared_dim=8, ch=4),
        discriminator=dict(type="ProjectionDiscriminator", resolution=16, c_dim=3, ch=4))))
    biggan = MODELS.build(cfg.model.to_dict())
    path = tmp_path / "biggan.pth"
    torch.save({"state_dict": biggan.state_dict(), "meta": {"cfg": cfg.pretty_text, "model_type": "BigGAN"}}, path)
    with pytest.raises(ValueError, match="generator_ckpt=.*StyleGAN2"):
        PadInv(generator_ckpt=str(path), encoder=ENCODER)
    with pytest.raises(ValueError, match="discriminator"):
        _model(gan_ckpt, loss=dict(NO_PRETRAINED, adv_weight=0.05))


def test_train_step_updates_the_encoder_only(gan_ckpt):
    model = _model(gan_ckpt)
    gen_before = {k: v.clone() for k, v in model.generator.state_dict().items()}
    enc_before = {k: v.clone() for k, v in model.encoder.named_parameters()}
    optim = OptimWrapperDict(encoder=_adam(model.encoder))
    log = model.train_step(_batch(), optim)
    assert set(log) == {"loss_mse", "loss_wnorm", "loss"}
    assert torch.allclose(log["loss"], log["loss_mse"] + 0.003 * log["loss_wnorm"])
    assert all(torch.equal(v, gen_before[k]) for k, v in model.generator.state_dict().items())
    changed = [k for k, v in model.encoder.named_parameters() if not torch.equal(v, enc_before[k])]
    assert any(k.startswith("padding_heads") for k in changed) and any(k.startswith("heads") for k in changed)
    assert int(model.seen_img) == 2
    losses = [float(model.train_step(_batch(4, seed=1), optim)["loss_mse"]) for _ in range(8)]
    assert losses[-1] < losses[0]  # it fits a fixed batch
    out = model.val_step(_batch(3))
    assert len(out) == 3 and out[0]["recon"].shape == (3, 16, 16) and out[0]["recon"].abs().max() <= 1
    assert torch.allclose(out[0]["real"], _batch(3)["inputs"][0].float() / 127.5 - 1)


def test_adversarial_step_trains_the_gan_discriminator(gan_ckpt):
    model = _model(gan_ckpt, loss=dict(NO_PRETRAINED, adv_weight=0.05), discriminator=True)
    state = load_local_checkpoint(gan_ckpt)["state_dict"]
    assert all(torch.equal(v, state[f"discriminator.{k}"]) for k, v in model.discriminator.state_dict().items())
    d_before = {k: v.clone() for k, v in model.discriminator.named_parameters()}
    optim = OptimWrapperDict(encoder=_adam(model.encoder), discriminator=_adam(model.discriminator, 1e-4))
    log = model.train_step(_batch(), optim)
    assert {"loss_adv", "loss_d", "r1"} <= set(log) and float(log["r1"]) >= 0
    assert any(not torch.equal(v, d_before[k]) for k, v in model.discriminator.named_parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.discriminator.parameters())


def test_loss_terms_and_their_switches(monkeypatch):
    wplus, w_avg = torch.randn(3, 6, 4), torch.randn(4)
    assert torch.allclose(wnorm_loss(wplus, w_avg), torch.stack([(w - w_avg).norm() for w in wplus]).mean())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = PadInvLoss(id_weight=0.1)
    assert any("lpips_weights" in str(w.message) for w in caught)
    assert any("arcface_weights" in str(w.message) for w in caught)
    assert loss.enabled == {"mse": 1.0, "wnorm": 0.003}

    class FakeLPIPS(torch.nn.Module):  # stands in for gen3d.models.losses.lpips.LPIPS(weights=...)
        def __init__(self, weights):
            super().__init__()
            self.weights, self.scale = weights, torch.nn.Parameter(torch.ones(()))

        def forward(self, a, b):
            assert a.shape[1] == 3
            return (a - b).abs().flatten(1).mean(1) * self.scale

    monkeypatch.setitem(sys.modules, "gen3d.models.losses.lpips", types.SimpleNamespace(LPIPS=FakeLPIPS))
    loss = PadInvLoss(lpips_weights="lpips.pth")
    assert loss.enabled["lpips"] == 0.8 and loss._nets["lpips"].weights == "lpips.pth"
    assert not any(k.startswith("_nets") for k in loss.state_dict())  # pretrained nets stay out of checkpoints
    fake, real = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)  # grey images go to LPIPS as 3 channels
    terms = loss(fake, real, wplus[:2], w_avg)
    manual = terms["loss_mse"] + 0.8 * (real - fake).abs().mean() + 0.003 * terms["loss_wnorm"]
    assert torch.allclose(terms["loss"], manual)
    loss.double()
    assert loss._nets["lpips"].scale.dtype == torch.float64  # moved with the loss
    with pytest.raises(ValueError, match="d_fake"):
        PadInvLoss(lpips_weight=0, adv_weight=0.1)(fake, real, wplus[:2], w_avg)
    monkeypatch.setitem(sys.modules, "gen3d.models.losses.identity", None)  # the ArcFace module missing
    with pytest.raises(ValueError, match="arcface_weights='arcface.pth'"):
        PadInvLoss(lpips_weight=0, id_weight=0.1, arcface_weights="arcface.pth")


def test_checkpoint_rebuilds_exactly_without_the_gan_file(gan_ckpt, tmp_path):
    model = _model(gan_ckpt)
    model.train_step(_batch(), OptimWrapperDict(encoder=_adam(model.encoder)))
    cfg = Config(dict(default_scope="gen3d", model=dict(type="PadInv", generator_ckpt="/gone/gan.pth",
                                                        encoder=ENCODER, loss=NO_PRETRAINED)))
    state = model.state_dict()
    assert not any(k.startswith(("generator_ema.", "discriminator.")) for k in state)  # the generator once
    assert len([k for k in state if k.startswith("generator.")]) == len(model.generator.state_dict())
    path = tmp_path / "padinv.pth"
    torch.save({"state_dict": state, "meta": {"cfg": cfg.pretty_text, "model_type": "PadInv"}}, path)
    loaded = load_padinv_checkpoint(str(path))
    assert not loaded.training and loaded.use_padding
    for k, v in loaded.state_dict().items():
        if k != "_extra_state":
            assert torch.equal(v, state[k]), k
    model.eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    torch.save({"state_dict": load_local_checkpoint(gan_ckpt)["state_dict"],
                "meta": {"cfg": Config(dict(model=dict(type="StyleGAN2"))).pretty_text}}, tmp_path / "gan2.pth")
    with pytest.raises(ValueError, match="not PadInv"):
        load_padinv_checkpoint(str(tmp_path / "gan2.pth"))
