"""BigGAN (arXiv 1809.11096) generator, projection discriminator and training model, at 16 px."""

import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn
from torch.nn.utils import parametrize

import gen3d.models  # noqa: F401 - registers the models
from gen3d.models.gans.biggan import BigGAN, BigGANGenerator, ProjectionDiscriminator
from gen3d.models.gans.biggan.layers import ConditionalBatchNorm2d
from gen3d.models.gans.generator_output import INTERFACE_ATTRIBUTES, check_generator
from gen3d.models.losses.gan_losses import d_hinge_loss, g_hinge_loss

Z, K = 12, 3  # latent size (3 chunks at 16 px), classes


def _gen(**kw):
    torch.manual_seed(0)
    return BigGANGenerator(**{**dict(resolution=16, z_dim=Z, c_dim=K, shared_dim=8, ch=4), **kw})


def _disc(**kw):
    torch.manual_seed(1)
    return ProjectionDiscriminator(**{**dict(resolution=16, c_dim=K, ch=4), **kw})


def _onehot(labels):
    return F.one_hot(torch.tensor(labels), K).float()


def test_generator_interface_shapes_and_features():
    g = check_generator(_gen())
    assert all(hasattr(g, a) for a in INTERFACE_ATTRIBUTES)
    assert (g.z_dim, g.c_dim, g.pose_dim, g.img_resolution, g.img_channels) == (Z, K, 0, 16, 3)
    out = g(torch.randn(2, Z), _onehot([0, 2]), return_features=True)
    assert out.image.shape == (2, 3, 16, 16) and out.image.abs().max() <= 1
    assert list(out.features) == list(g.layer_names) == [
        "fc", "block0.act1", "block0.act2", "block0", "block1.act1", "block1.act2", "block1", "out.act"]
    assert {k: tuple(v.shape[1:]) for k, v in out.features.items()} == g.layer_shapes()
    assert g.layer_shapes() == {"fc": (16, 4, 4), "block0.act1": (16, 4, 4), "block0.act2": (16, 8, 8),
                                "block0": (16, 8, 8), "block1.act1": (16, 8, 8), "block1.act2": (16, 16, 16),
                                "block1": (16, 16, 16), "out.act": (16, 16, 16)}
    assert g.block_layer_names == ("fc", "block0", "block1")
    assert g.awareness_layers == ("block0.act1", "block0.act2", "block1.act1", "block1.act2")
    assert g(torch.randn(2, Z), _onehot([0, 1])).features is None
    with pytest.raises(ValueError, match="c"):
        g(torch.randn(2, Z))
    with pytest.raises(ValueError, match="chunks"):
        BigGANGenerator(resolution=16, z_dim=13, c_dim=K)


def test_layer_hook_replaces_a_layer():
    g = _gen().eval()
    z, c = torch.randn(2, Z), _onehot([0, 1])
    plain = g(z, c).image
    zeroed = g(z, c, layer_hook=lambda name, h: h * 0 if name == "block0" else h, return_features=True)
    assert not torch.allclose(plain, zeroed.image)
    assert zeroed.features["block0"].abs().max() == 0


def _reference_forward(g, z, c):
    """The generator's forward written out without any hook point (BigGAN-PyTorch ``G.forward``)."""
    ys = g.block_conditions(z, c)
    h = g.fc(z[:, : g.chunk]).view(len(z), g.channels[0], 4, 4)
    for block, y in zip(g.blocks, ys):
        a = F.interpolate(F.relu(block.bn1(h, y)), scale_factor=2, mode="nearest")
        a = block.conv2(F.relu(block.bn2(block.conv1(a), y)))
        h = a + block.conv_sc(F.interpolate(h, scale_factor=2, mode="nearest"))
    return torch.tanh(g.out_conv(F.relu(g.out_bn(h))))


@pytest.mark.parametrize("train", [False, True])
def test_output_bit_identical_with_and_without_hooks(train):
    g = _gen().train(train)  # a training forward moves the SN vectors and BN stats: one fresh copy per call
    z, c = torch.randn(3, Z), _onehot([0, 1, 2])
    ref = _reference_forward(copy.deepcopy(g), z, c)
    assert torch.equal(copy.deepcopy(g)(z, c).image, ref)
    out = copy.deepcopy(g)(z, c, return_features=True, layer_hook=lambda name, h: h)  # identity hooks everywhere
    assert torch.equal(out.image, ref)


def test_ccbn_relu_hook_points():
    """``block{b}.act1`` / ``.act2`` are ReLU(CCBN(.)), hooked where the next op reads them; ``out.act`` too."""
    g = _gen().eval()
    z, c = torch.randn(2, Z), _onehot([0, 2])
    f = g(z, c, return_features=True).features
    y0 = g.block_conditions(z, c)[0]
    b0 = g.blocks[0]
    assert torch.equal(f["block0.act1"], F.relu(b0.bn1(f["fc"], y0)))
    up = F.interpolate(f["block0.act1"], scale_factor=2, mode="nearest")
    assert torch.equal(f["block0.act2"], F.relu(b0.bn2(b0.conv1(up), y0)))
    sc = b0.conv_sc(F.interpolate(f["fc"], scale_factor=2, mode="nearest"))
    assert torch.equal(f["block0"], b0.conv2(f["block0.act2"]) + sc)
    assert torch.equal(f["out.act"], F.relu(g.out_bn(f["block1"])))
    assert all(f[n].min() >= 0 for n in g.awareness_layers + ("out.act",))
    plain = g(z, c).image
    for name in g.awareness_layers + ("out.act",):  # each hook point replaces what the next layer reads
        seen = []

        def zero(n, h, name=name, seen=seen):
            seen.append(n)
            return h * 0 if n == name else h

        out = g(z, c, layer_hook=zero, return_features=True)
        assert seen == list(g.layer_names) and out.features[name].abs().max() == 0
        assert not torch.allclose(out.image, plain), name


def test_class_changes_the_output_for_the_same_z():
    g = _gen().eval()
    z = torch.randn(1, Z).repeat(2, 1)
    img = g(z, _onehot([0, 1])).image
    assert (img[0] - img[1]).abs().max() > 1e-3
    same = g(z, _onehot([1, 1])).image
    assert torch.allclose(same[0], same[1])


def test_cbn_gains_depend_on_the_class():
    g = _gen().eval()
    z = torch.randn(1, Z).repeat(2, 1)
    ys = g.block_conditions(z, _onehot([0, 2]))
    bn = g.blocks[0].bn1
    assert isinstance(bn, ConditionalBatchNorm2d) and not bn.bn.affine
    gain, bias = bn.gain_bias(ys[0])
    assert gain.shape == bias.shape == (2, 16)
    assert (gain[0] - gain[1]).abs().max() > 1e-3 and (bias[0] - bias[1]).abs().max() > 1e-3
    # gain = 1 + linear: a zero condition gives gain 1, bias 0
    g0, b0 = bn.gain_bias(torch.zeros(1, ys[0].shape[1]))
    assert torch.allclose(g0, torch.ones_like(g0)) and torch.allclose(b0, torch.zeros_like(b0))
    # the condition of block b is [E c | z_{b+1}]: the shared embedding then the block's latent chunk
    assert torch.allclose(ys[1][:, 8:], z[:, 8:12]) and torch.allclose(ys[0][:, :8], g.shared(_onehot([0, 2])))


def test_hierarchical_latent_chunks_reach_their_block():
    g = _gen().eval()
    z, c = torch.randn(2, Z), _onehot([0, 1])
    base = g(z, c, return_features=True).features
    z2 = z.clone()
    z2[:, 8:] += 1.0  # the last chunk drives block1 only
    moved = g(z2, c, return_features=True).features
    assert torch.equal(base["fc"], moved["fc"]) and torch.equal(base["block0"], moved["block0"])
    assert not torch.allclose(base["block1"], moved["block1"])


def test_eval_generator_uses_running_stats_batch_independent():
    g = _gen()
    z, c = torch.randn(4, Z), _onehot([0, 1, 2, 0])
    g(z, c)  # one training forward moves the running stats
    g.eval()
    assert torch.allclose(g(z, c).image[:1], g(z[:1], c[:1]).image, atol=1e-6)
    g.train()
    assert not torch.allclose(g(z, c).image[:1], g(z[:1], c[:1]).image, atol=1e-3)  # batch statistics


def _sn_layers(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and parametrize.is_parametrized(m)]


def test_spectral_norm_on_every_conv_and_linear():
    g, d = _gen(), _disc()
    for net, unnormalised in ((g, {"shared"}), (d, set())):
        layers = [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers and all(parametrize.is_parametrized(m) for n, m in layers if n not in unnormalised)
    d.eval()
    for m in _sn_layers(d):  # the normalised weight has spectral norm ~1 (the stored power iteration)
        w = m.weight.flatten(1)
        assert torch.linalg.matrix_norm(w.detach(), ord=2).item() == pytest.approx(1.0, abs=0.1)


def test_projection_term():
    d = _disc().eval()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    c1, c2 = _onehot([0, 0]), _onehot([2, 1])
    phi = d.features(x)
    expected = ((d.embed(c1) - d.embed(c2)) * phi).sum(1, keepdim=True)
    assert torch.allclose(d(x, c1) - d(x, c2), expected, atol=1e-5)
    assert (expected.abs() > 1e-4).all()
    assert torch.allclose(d(x, c1), d.linear(phi) + d.projection(phi, c1), atol=1e-5)
    assert d(x, c1).shape == (2, 1)


class ToyD(nn.Module):
    """D(x) = mean(x) * scale, so the hinge terms are computable by hand."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, img, c=None):
        return img.mean(dim=(1, 2, 3))[:, None] * self.scale


def test_hinge_losses_by_hand_on_a_toy_d():
    d = ToyD()
    real = torch.stack([torch.full((3, 2, 2), v) for v in (0.1, 0.5)])  # D = 0.3, 1.5
    fake = torch.stack([torch.full((3, 2, 2), v) for v in (-0.5, 0.2)])  # D = -1.5, 0.6
    loss_d = d_hinge_loss(d(real), d(fake))
    by_hand = ((1 - 0.3) + max(0, 1 - 1.5)) / 2 + (max(0, 1 - 1.5) + (1 + 0.6)) / 2
    assert loss_d.item() == pytest.approx(by_hand)
    assert g_hinge_loss(d(fake)).item() == pytest.approx(-(-1.5 + 0.6) / 2)
    m = _model()
    assert m.adversarial_loss == "hinge" and m.d_adv_loss is d_hinge_loss and m.g_adv_loss is g_hinge_loss


def _model(**kw):
    return BigGAN(_gen(), _disc(), ema_kimg=0.001, **kw)


def _optims(m):
    return OptimWrapperDict(
        generator=OptimWrapper(torch.optim.Adam(m.generator.parameters(), lr=1e-2, betas=(0.0, 0.999))),
        discriminator=OptimWrapper(torch.optim.Adam(m.discriminator.parameters(), lr=1e-2, betas=(0.0, 0.999))))


def _batch(labels):
    n = len(labels)
    return dict(inputs=torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8),
                data_samples=dict(gt_label=torch.tensor(labels), sample_idx=list(range(n))))


@pytest.mark.parametrize("d_steps", [1, 2])
def test_train_step_updates_g_d_and_ema(d_steps):
    torch.manual_seed(0)
    m = _model(d_steps=d_steps)
    m.init_weights()
    m.train()
    before = copy.deepcopy(m.state_dict())
    calls = []
    hook = m.discriminator.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    log = m.train_step(_batch([0, 1, 2, 0]), _optims(m))
    hook.remove()
    assert {"loss_d", "loss_g", "d_real", "d_fake", "seen_kimg"} <= set(log)
    assert all(torch.isfinite(v) for v in log.values())
    assert calls == [4 // d_steps] * (2 * d_steps) + [4]  # d_steps x (real, fake) on chunks, then G on the batch
    after = m.state_dict()

    def changed(prefix):
        return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))

    assert changed("generator.") and changed("discriminator.") and changed("generator_ema.")
    assert not torch.equal(before["generator.fc.parametrizations.weight.original"],
                           after["generator.fc.parametrizations.weight.original"])
    assert not torch.equal(before["discriminator.linear.parametrizations.weight.original"],
                           after["discriminator.linear.parametrizations.weight.original"])
    assert int(m.seen_img) == 4 and int(m.train_iter) == 1
    # the EMA generator received G's BN running stats (buffers are copied), and it stays in eval
    assert torch.equal(m.generator_ema.blocks[0].bn1.bn.running_mean, m.generator.blocks[0].bn1.bn.running_mean)
    assert not m.generator_ema.training
    assert all(p.requires_grad for p in m.discriminator.parameters())


def test_d_steps_must_divide_the_batch():
    m = _model(d_steps=3)
    with pytest.raises(ValueError, match="divisible"):
        m.train_step(_batch([0, 1, 2, 0]), _optims(m))
    with pytest.raises(ValueError, match="d_steps"):
        _model(d_steps=0)


def test_val_step_gives_fakes_of_the_real_class():
    m = _model().eval()
    outs = m.val_step(_batch([0, 2]))
    assert len(outs) == 2 and outs[0]["fake_img"].shape == (3, 16, 16) and outs[0]["fake_img"].dtype == torch.uint8
    z = m.sample_latents([0, 1])
    expected = m.generator_ema(z, _onehot([0, 2])).image
    assert torch.equal(outs[1]["fake_img"], m.to_uint8(expected[1]))
    with pytest.raises(ValueError, match="gt_label"):
        m.val_step(_batch([0, 5]))
