import pytest
import torch
from torch.nn import functional as F

from gen3d.evaluation.metrics.depthgan_warp import depth_bins
from gen3d.models.gans.depthgan import DepthBinHead, DepthGANDiscriminator
from gen3d.models.gans.stylegan2.discriminator_layers import DiscriminatorBlock
from gen3d.registry import MODELS

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny convs: one intra-op thread

TINY = dict(channel_base=256, channel_max=16)  # channels 4 / 8 / 16 at 64 / 32 / 16 px


def _disc(resolution: int = 64, **kw) -> DepthGANDiscriminator:
    torch.manual_seed(0)
    return DepthGANDiscriminator(resolution, **TINY, **kw)


@pytest.mark.parametrize(("resolution", "taps"), [(64, (64, 32, 16)), (128, (64, 32, 16)), (32, (32, 16, 8))])
def test_shapes_rgb_and_rgbd(resolution, taps):
    disc = _disc(resolution, depth_head_resolutions=taps)
    for channels in (3, 4):
        out = disc(torch.randn(2, channels, resolution, resolution))
        assert out["logit"].shape == (2, 1)
        assert out["depth_logits"].shape == (2, 10, resolution, resolution)
    assert disc.depth_head.scale_factor == resolution // taps[0]


def test_rejects_bad_inputs_and_taps():
    disc = _disc()
    for shape in [(2, 2, 64, 64), (2, 4, 32, 32), (4, 64, 64)]:
        with pytest.raises(ValueError):
            disc(torch.randn(*shape))
    for taps in [(128, 64, 32), (64, 16), (16, 8, 4), ()]:
        with pytest.raises(ValueError, match="depth_head_resolutions"):
            DepthGANDiscriminator(64, depth_head_resolutions=taps, **TINY)


def test_registered():
    disc = MODELS.build(dict(type="DepthGANDiscriminator", resolution=64, **TINY))
    assert isinstance(disc, DepthGANDiscriminator)


def test_rgb_only_equals_rgbd_with_zeroed_depth_stem():
    disc = _disc().eval()
    rgbd = torch.randn(2, 4, 64, 64)
    rgb_out = disc(rgbd[:, :3])
    rgbd_out = disc(rgbd)
    assert not torch.allclose(rgb_out["logit"], rgbd_out["logit"])  # the depth channel matters for RGBD input
    with torch.no_grad():
        disc.fromdepth.weight.zero_()
        disc.fromdepth.bias.zero_()
    zeroed = disc(rgbd)
    assert torch.equal(zeroed["logit"], rgb_out["logit"])
    assert torch.equal(zeroed["depth_logits"], rgb_out["depth_logits"])


def test_rgb_only_ignores_the_depth_stem_but_keeps_it_in_the_graph():
    disc = _disc()
    rgb = torch.randn(2, 3, 64, 64)
    before = disc(rgb)
    with torch.no_grad():
        disc.fromdepth.weight.normal_()
        disc.fromdepth.bias.fill_(0.5)
    after = disc(rgb)
    assert torch.equal(before["logit"], after["logit"])
    (after["logit"].sum() + after["depth_logits"].sum()).backward()
    assert disc.fromdepth.weight.grad is not None and disc.fromdepth.weight.grad.abs().sum() == 0  # zeros, not None


def test_gradients_reach_every_parameter_and_the_depth_input():
    disc = _disc(c_dim=2)
    rgbd = torch.randn(2, 4, 64, 64, requires_grad=True)
    out = disc(rgbd, torch.eye(2))
    (out["logit"].sum() + out["depth_logits"].square().mean()).backward()
    missing = [n for n, p in disc.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing
    assert rgbd.grad[:, 3].abs().sum() > 0


def test_r1_double_backward_on_rgbd():
    disc = _disc()
    rgbd = torch.randn(2, 4, 64, 64, requires_grad=True)
    (grad,) = torch.autograd.grad(disc(rgbd)["logit"].sum(), rgbd, create_graph=True)
    grad.square().sum().backward()
    assert disc.fromdepth.weight.grad.abs().sum() > 0


def test_head_decodes_the_block_inputs_at_64_32_16():
    disc = _disc(128)
    seen = {}
    for res in (64, 32, 16):
        getattr(disc, f"b{res}").register_forward_pre_hook(lambda m, args, r=res: seen.__setitem__(r, args[0]))
    out = disc(torch.randn(2, 4, 128, 128))
    assert [seen[r].shape[1:] for r in (64, 32, 16)] == [(4, 64, 64), (8, 32, 32), (16, 16, 16)]
    assert torch.equal(disc.depth_head([seen[64], seen[32], seen[16]]), out["depth_logits"])


def test_head_layers_follow_the_official_depth_loss_layer():
    head = DepthBinHead([4, 8, 16], num_bins=10, scale_factor=4)
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in head.convs] == [(16, 8, 3), (16, 4, 3),
                                                                                     (8, 2, 3)]
    assert [b.conv2.activation for b in head.blocks] == ["linear"] * 3
    assert (head.out.in_channels, head.out.out_channels, head.out.kernel_size, head.out.activation) == (2, 10, 1,
                                                                                                      "lrelu")
    feats = [torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    assert head(feats).shape == (1, 10, 64, 64)


def test_depth_bins():
    d = torch.tensor([-3.0, -1.0, -0.95, -0.79, -0.01, 0.0, 0.55, 0.999, 1.0, 2.0])
    assert depth_bins(d.reshape(1, 1, 1, -1)).flatten().tolist() == [0, 0, 0, 1, 4, 5, 7, 9, 9, 9]
    assert depth_bins(d.reshape(1, 1, -1), num_bins=4).flatten().tolist() == [0, 0, 0, 0, 1, 2, 3, 3, 3, 3]
    with pytest.raises(ValueError):
        depth_bins(torch.zeros(1, 2, 3, 3))


def test_depth_cross_entropy_trains_the_head():
    disc = _disc()
    rgb, depth = torch.randn(2, 3, 64, 64), torch.rand(2, 1, 64, 64) * 2 - 1
    loss = F.cross_entropy(disc(rgb)["depth_logits"], depth_bins(depth))
    loss.backward()
    assert torch.isfinite(loss) and disc.depth_head.out.weight.grad.abs().sum() > 0


def test_block_skip_fromrgb_hook_is_the_plain_forward():
    torch.manual_seed(0)
    block = DiscriminatorBlock(0, 8, 16, 3)
    img = torch.randn(2, 3, 16, 16)
    assert torch.equal(block(img), block(block.fromrgb(img), skip_fromrgb=True))
