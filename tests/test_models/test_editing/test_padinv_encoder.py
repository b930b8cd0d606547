"""PadInvEncoder: W+ and padding-map shapes on a tiny StyleGAN2, start_from_latent_avg, the W+-only twin, blocks."""

import pytest
import torch

import gen3d.models  # noqa: F401 - registers the generator
from gen3d.models.editing.padding_space import padding_map_size, padding_shapes
from gen3d.models.editing.padinv import PadInvEncoder, default_latents_per_level
from gen3d.models.editing.padinv.blocks import IRBottleneck, LightBackbone
from gen3d.models.editing.padinv.encoder import FPN, Map2Style
from gen3d.models.gans.stylegan2.generator import StyleGAN2Generator

LIGHT = dict(backbone="light", backbone_cfg=dict(widths=(8, 16, 16)), fpn_channels=16, padding_level=2)


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return StyleGAN2Generator(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128,
                              channel_max=16).eval()


def _encoder(gen, use_padding=True, seed=0, **kw):
    torch.manual_seed(seed)
    shapes = padding_shapes(gen, 1)
    return PadInvEncoder(num_ws=gen.num_ws, w_dim=gen.w_dim, resolution=16, use_padding=use_padding,
                         padding_channels={k: s[1] for k, s in shapes.items()},
                         padding_size=padding_map_size(gen), **{**LIGHT, **kw})


def test_default_split_follows_psp():
    assert default_latents_per_level(18) == [3, 4, 11]
    assert default_latents_per_level(8) == [3, 4, 1]
    assert default_latents_per_level(6) == [3, 3, 0]


def test_shapes_and_padding_maps_drive_the_generator(gen):
    enc = _encoder(gen)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    wplus, maps = enc(x)
    assert wplus.shape == (2, gen.num_ws, gen.w_dim)
    # 16-px G: layers 0, 2, 4 (4, 8, 16 px) are the non-upsampling convs; S = 16 + 2
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"const": (2, 16, 18, 18), 0: (2, 16, 18, 18),
                                                            2: (2, 16, 18, 18), 4: (2, 8, 18, 18)}
    assert isinstance(enc.padding_heads["const"], torch.nn.Identity)  # fpn 16 == C_4: the extractor's own output
    img = gen.synthesis(wplus, noise_mode="const", padding_maps=maps)
    assert img.shape == (2, 3, 16, 16)
    assert not torch.allclose(img, gen.synthesis(wplus, noise_mode="const"))
    img.square().mean().backward()
    assert enc.padding_heads["layer4"].weight.grad.abs().sum() > 0
    assert enc.padding_extractor[0].residual[1].weight.grad.abs().sum() > 0


def test_start_from_latent_avg_adds_w_avg(gen):
    enc = _encoder(gen).eval()
    x = torch.rand(2, 3, 16, 16)
    base, _ = enc(x)
    enc.w_avg.fill_(3.0)
    shifted, _ = enc(x)
    assert torch.allclose(shifted - base, torch.full_like(base, 3.0), atol=1e-5)
    off = _encoder(gen, start_from_latent_avg=False).eval()
    off.w_avg.fill_(3.0)
    assert torch.allclose(off(x)[0], base, atol=1e-6)


def test_wplus_twin_has_no_padding_head_and_the_same_initial_wplus_weights(gen):
    pad, plain = _encoder(gen, True), _encoder(gen, False)
    sp, sw = pad.state_dict(), plain.state_dict()
    assert set(sw) < set(sp) and all(k.startswith("padding_") for k in set(sp) - set(sw))
    assert all(torch.equal(sp[k], sw[k]) for k in sw)
    pad.eval(), plain.eval()
    x = torch.rand(2, 3, 16, 16)
    wplus, maps = plain(x)
    assert maps is None and wplus.shape == (2, gen.num_ws, gen.w_dim)
    assert torch.equal(pad(x)[0], wplus)


def test_bad_input_and_settings_are_refused(gen):
    enc = _encoder(gen)
    with pytest.raises(ValueError, match=r"img must be \(N, 3, R, R\)"):
        enc(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="num_latents_per_level"):
        _encoder(gen, num_latents_per_level=[1, 1, 1])
    with pytest.raises(ValueError, match="padding_channels"):
        PadInvEncoder(num_ws=6, w_dim=16, resolution=16, **LIGHT)
    with pytest.raises(ValueError, match="backbone must be one of"):
        _encoder(gen, backbone="resnet")


def test_other_input_sizes_are_resized(gen):
    enc = _encoder(gen).eval()
    wplus, maps = enc(torch.rand(1, 3, 32, 32))
    assert wplus.shape == (1, gen.num_ws, gen.w_dim) and maps[0].shape[-1] == 18


def test_ir_se50_option():
    try:
        import gen3d.models.backbones.iresnet  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="ir_se50"):
            PadInvEncoder(num_ws=8, w_dim=16, resolution=32, backbone="ir_se50", use_padding=False)
        return
    enc = PadInvEncoder(num_ws=8, w_dim=16, resolution=32, backbone="ir_se50", fpn_channels=512, use_padding=False)
    assert enc(torch.rand(2, 3, 32, 32))[0].shape == (2, 8, 16)


def test_blocks_and_heads():
    block = IRBottleneck(8, 16, stride=2)
    assert block(torch.rand(2, 8, 8, 8)).shape == (2, 16, 4, 4)
    same = IRBottleneck(8, 8)
    assert isinstance(same.shortcut, torch.nn.MaxPool2d) and same(torch.rand(2, 8, 6, 6)).shape == (2, 8, 6, 6)
    maps = LightBackbone(1, (4, 8, 8)).forward_stages(torch.rand(2, 1, 32, 32))
    assert [tuple(m.shape[1:]) for m in maps] == [(4, 16, 16), (8, 8, 8), (8, 4, 4)]
    fpn = FPN([4, 8, 8], 8)
    out = fpn(maps)
    assert [tuple(m.shape[1:]) for m in out] == [(8, 16, 16), (8, 8, 8), (8, 4, 4)]
    assert torch.equal(out[2], maps[2])  # the coarsest level passes as is when its width is the FPN's
    assert Map2Style(8, 5, 8)(out[1]).shape == (2, 5)
    with pytest.raises(ValueError, match="power-of-two"):
        Map2Style(8, 5, 6)
