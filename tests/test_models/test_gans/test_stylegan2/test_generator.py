import pytest
import torch
from torch.nn import functional as F

from gen3d.models.gans import StyleGAN2Generator
from gen3d.registry import MODELS

TINY = dict(z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2)


@pytest.mark.parametrize("resolution,num_ws", [(16, 6), (32, 8)])
def test_shapes_and_num_ws(resolution, num_ws):
    torch.manual_seed(0)
    gen = StyleGAN2Generator(resolution, **TINY)
    assert gen.num_ws == num_ws and gen.mapping.w_avg.shape == (32,)
    assert (gen.resolution, gen.img_channels, gen.z_dim, gen.w_dim, gen.c_dim) == (resolution, 3, 32, 32, 0)
    img = gen(torch.randn(2, 32)).image
    assert img.shape == (2, 3, resolution, resolution) and torch.isfinite(img).all()
    ws = gen.mapping(torch.randn(2, 32), None)
    assert ws.shape == (2, num_ws, 32)
    assert gen.synthesis(ws).shape == (2, 3, resolution, resolution)


def test_channels_follow_channel_base():
    gen = StyleGAN2Generator(16, **TINY)
    assert gen.synthesis.b4.const.shape == (32, 4, 4)  # min(256 // 4, 32)
    assert gen.synthesis.b16.conv1.weight.shape == (16, 16, 3, 3)  # 256 // 16


def test_synthesis_accepts_mixed_ws_and_validates_shape():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, **TINY)
    ws = gen.mapping(torch.randn(2, 32), None)
    mixed = torch.cat([ws[:, :3], ws.flip(0)[:, 3:]], dim=1)  # style mixing at a crossover, as the GAN model does
    assert not torch.allclose(gen.synthesis(mixed, "const"), gen.synthesis(ws, "const"))
    with pytest.raises(ValueError):
        gen.synthesis(ws[:, :-1])


def test_conditioning_changes_the_image():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, c_dim=4, **TINY)
    z = torch.randn(2, 32)
    c0, c1 = F.one_hot(torch.tensor([0, 0]), 4).float(), F.one_hot(torch.tensor([3, 3]), 4).float()
    assert not torch.allclose(gen(z, c0, noise_mode="const").image, gen(z, c1, noise_mode="const").image)
    with pytest.raises(ValueError):
        gen(z)


def test_truncation_psi_zero_gives_w_avg():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, **TINY)
    gen.mapping.w_avg.normal_()
    ws = gen.mapping(torch.randn(3, 32), None, truncation_psi=0.0)
    assert torch.allclose(ws, gen.mapping.w_avg.expand_as(ws))
    imgs = gen(torch.randn(3, 32), truncation_psi=0.0, noise_mode="const").image
    assert torch.allclose(imgs, imgs[:1].expand_as(imgs), atol=1e-5)


def test_update_w_avg_only_on_request():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, **TINY)
    gen(torch.randn(2, 32))
    assert torch.equal(gen.mapping.w_avg, torch.zeros(32))
    gen(torch.randn(2, 32), update_w_avg=True)
    assert gen.mapping.w_avg.abs().sum() > 0


def test_noise_modes():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, **TINY)
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
    z = torch.randn(2, 32)
    assert torch.equal(gen(z, noise_mode="const").image, gen(z, noise_mode="const").image)
    assert not torch.equal(gen(z, noise_mode="random").image, gen(z, noise_mode="random").image)
    assert not torch.allclose(gen(z, noise_mode="const").image, gen(z, noise_mode="none").image)
    # const noise lives in the state_dict, so a reloaded generator gives the same images
    clone = StyleGAN2Generator(16, **TINY)
    clone.load_state_dict(gen.state_dict())
    assert torch.equal(clone(z, noise_mode="const").image, gen(z, noise_mode="const").image)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, c_dim=2, **TINY)
    gen(torch.randn(2, 32), torch.eye(2)).image.square().mean().backward()
    missing = [n for n, p in gen.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_orig_architecture_and_bad_arguments():
    gen = StyleGAN2Generator(16, architecture="orig", **TINY)
    assert not hasattr(gen.synthesis.b8, "torgb") and gen.num_ws == 6
    assert gen(torch.randn(1, 32)).image.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError):
        StyleGAN2Generator(24, **TINY)
    with pytest.raises(ValueError):
        StyleGAN2Generator(16, architecture="resnet", **TINY)


def test_builds_from_config():
    gen = MODELS.build(dict(type="StyleGAN2Generator", resolution=16, img_channels=1, **TINY))
    assert gen(torch.randn(1, 32)).image.shape == (1, 1, 16, 16)


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:Constant folding - Only steps=1:UserWarning")
def test_onnx_export_const_noise_parity(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    gen = StyleGAN2Generator(16, **TINY).eval()
    gen.mapping.w_avg.normal_()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gen = gen

        def forward(self, z):
            return self.gen(z, truncation_psi=0.7, noise_mode="const").image

    path = tmp_path / "g.onnx"
    z = torch.randn(2, 32)
    torch.onnx.export(Wrapper(), (z,), str(path), dynamo=False, opset_version=17, input_names=["z"],
                      output_names=["img"], dynamic_axes={"z": {0: "n"}, "img": {0: "n"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (2, 3):
        zz = torch.randn(n, 32)
        with torch.no_grad():
            ref = Wrapper()(zz)
        out = torch.from_numpy(sess.run(None, {"z": zz.numpy()})[0])
        assert out.shape == ref.shape
        assert (out - ref).abs().max() < 1e-4
