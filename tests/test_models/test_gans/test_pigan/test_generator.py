import math

import onnxruntime as ort
import pytest
import torch

from gen3d.models.gans.pigan import PiGANGenerator
from gen3d.models.rendering import pose_to_cam2world
from gen3d.registry import MODELS

TINY = dict(z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8, num_steps=6, mapping_hidden=16, avg_samples=64)
# the CPU size of gans.md section 10: 32 px, 12 + 12 samples, FiLM layers of 64
CPU = dict(z_dim=256, hidden_dim=64, n_layers=4, img_resolution=32, num_steps=12, avg_samples=256)


def _g(**kw):
    torch.manual_seed(0)
    return PiGANGenerator(**{**TINY, **kw})


def test_defaults_are_pigan_celeba():
    g = PiGANGenerator.__init__.__defaults__
    assert g[:9] == (256, 256, 8, 64, 12.0, 0.88, 1.12, 12, True)
    from gen3d.models.gans.pigan import generator as mod
    assert (mod.YAW_STD, mod.PITCH_STD, mod.YAW_MEAN, mod.CAMERA_RADIUS) == (0.3, 0.155, math.pi / 2, 1.0)


def test_outputs_shapes_ranges_and_interface():
    gen = _g().train()
    out = gen(torch.randn(2, 16), noise_std=0.5)
    assert out.image.shape == (2, 3, 8, 8) and out.depth.shape == out.mask.shape == (2, 1, 8, 8)
    assert out.normal.shape == (2, 3, 8, 8)
    assert out.image.min() >= -1 and out.image.max() <= 1
    norm = out.normal.norm(dim=1)
    assert norm.max() <= 1 + 1e-4 and torch.allclose(norm[out.mask[:, 0] > 0.5], torch.tensor(1.0), atol=1e-2)
    assert out.mask.min() >= 0 and out.mask.max() <= 1 + 1e-5
    assert (out.depth >= 0).all() and (out.depth <= 1.12 + 0.024 + 1e-4).all()  # sum w t, sum w <= 1, jitter
    assert (gen.z_dim, gen.c_dim, gen.pose_dim, gen.img_resolution, gen.img_channels) == (16, 0, 2, 8, 3)


def test_forward_backward_reaches_every_parameter():
    gen = _g().train()
    out = gen(torch.randn(2, 16), noise_std=1.0)
    (out.image.mean() + out.depth.mean() + out.normal.mean()).backward()
    missing = [n for n, p in gen.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_const_mode_is_deterministic_and_pose_forms_agree():
    gen = _g().eval()
    z = torch.randn(2, 16)
    pose = torch.tensor([[1.5, 1.6], [1.7, 1.4]])  # (pitch, yaw)
    a = gen(z, pose=pose, noise_mode="const")
    b = gen(z, pose=pose_to_cam2world(pose[:, 1], pose[:, 0]), noise_mode="const")
    assert set(a) == set(b) == {"image", "depth", "normal", "mask"} and all(torch.equal(a[k], b[k]) for k in a)
    c = gen(z, pose=pose, noise_mode="random")
    assert not torch.equal(a.image, c.image)


def test_sample_pose_statistics():
    gen = _g()
    pose = gen.sample_pose(20000, generator=torch.Generator().manual_seed(0))
    assert pose.shape == (20000, 2)
    assert abs(pose[:, 0].std() - 0.155) < 0.005 and abs(pose[:, 1].std() - 0.3) < 0.01
    assert (pose.mean(0) - math.pi / 2).abs().max() < 0.01
    assert gen.sample_pose(3, "cpu").shape == (3, 2)  # the spine's call: sample_pose(num, device)


def test_truncation_zero_gives_the_average_field_for_every_z():
    gen = _g().eval()
    pose = torch.full((3, 2), math.pi / 2)
    out = gen(torch.randn(3, 16), pose=pose, truncation_psi=0.0, noise_mode="const")
    assert torch.allclose(out.image[0], out.image[1], atol=1e-6)
    assert torch.allclose(out.image[0], out.image[2], atol=1e-6)
    full = gen(torch.randn(3, 16), pose=pose, truncation_psi=1.0, noise_mode="const")
    assert not torch.allclose(full.image[0], full.image[1])
    f, p = gen.mapping(torch.randn(64, 16, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(gen.avg_frequencies, f.mean(0, keepdim=True), atol=1e-6)  # seeded mean of the codes
    before = gen.avg_frequencies.clone()
    gen(torch.randn(2, 16), update_w_avg=True)
    assert not torch.equal(before, gen.avg_frequencies)


def test_z_depth_and_density_normals_options():
    z, pose = torch.randn(1, 16), torch.full((1, 2), math.pi / 2)
    ray = _g().eval()(z, pose=pose, noise_mode="const")
    zd = _g(depth_kind="z").eval()(z, pose=pose, noise_mode="const")
    assert (zd.depth <= ray.depth + 1e-7).all() and torch.allclose(zd.depth[..., 4, 4], ray.depth[..., 4, 4], rtol=1e-3)
    dens = _g(normals="density").eval()(z, pose=pose, noise_mode="const")
    norm = dens.normal.norm(dim=1)  # zero on empty rays (no density gradient): GeoD's loss masks those out
    assert norm.max() <= 1 + 1e-4 and torch.allclose(norm[dens.mask[:, 0] > 0.5], torch.tensor(1.0), atol=1e-2)
    with pytest.raises(ValueError, match="normals"):
        _g(normals="none")


def test_registered_and_built_from_config():
    gen = MODELS.build(dict(type="PiGANGenerator", **TINY))
    assert isinstance(gen, PiGANGenerator)


class _Export(torch.nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, z, pose, psi):
        return tuple(self.gen(z, pose=pose, truncation_psi=psi, noise_mode="const").maps().values())


def test_onnx_export_parity(tmp_path):
    gen = _g().eval()
    z, pose, psi = torch.randn(2, 16), torch.tensor([[1.5, 1.6], [1.7, 1.4]]), torch.tensor([0.7])
    path = tmp_path / "pigan.onnx"
    torch.onnx.export(_Export(gen), (z, pose, psi), str(path), dynamo=False, opset_version=17,
                      input_names=["z", "pose", "psi"], output_names=["image", "depth", "normal", "mask"])
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"z": z.numpy(), "pose": pose.numpy(), "psi": psi.numpy()})
    with torch.no_grad():
        ref = _Export(gen)(z, pose, psi)
    for r, g in zip(ref, got):
        assert torch.allclose(torch.from_numpy(g), r, atol=1e-4)


@pytest.mark.slow
def test_cpu_size_forward_backward():
    gen = PiGANGenerator(**CPU).train()
    out = gen(torch.randn(2, 256), noise_std=1.0)
    assert out.image.shape == (2, 3, 32, 32)
    out.image.mean().backward()
    assert gen.siren.network[0].layer.weight.grad is not None
