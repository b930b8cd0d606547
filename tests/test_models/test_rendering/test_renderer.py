import math

import onnxruntime as ort
import pytest
import torch
from torch import nn

from gen3d.models.rendering import VolumeRenderer, camera_ray_directions, pose_to_cam2world

DEFAULT_POSE = (torch.tensor([math.pi / 2]), torch.tensor([math.pi / 2]))


def half_space(points, dirs):
    """Opaque below z = 0 (the camera of the default pose sits at z = 1)."""
    sigma = 1e4 * (points[..., 2:] <= 0).float()
    return torch.sigmoid(points * 3), sigma


def sphere(points, dirs, r0=0.1):
    sigma = 1e4 * (r0 - points.norm(dim=-1, keepdim=True))
    return torch.sigmoid(points * 3), sigma


@pytest.mark.parametrize("hierarchical", [False, True])
def test_opaque_half_space_depth_is_its_distance(hierarchical):
    r = VolumeRenderer(9, 12.0, 0.9, 1.1, 12, hierarchical=hierarchical).eval()
    out = r(half_space, pose_to_cam2world(*DEFAULT_POSE))
    assert out.image.shape == (1, 3, 9, 9) and out.depth.shape == out.opacity.shape == (1, 1, 9, 9)
    assert out.weights.shape == out.depths.shape == (1, 81, 24 if hierarchical else 12)
    true = 1 / -camera_ray_directions(9, 12.0)[:, 2].reshape(1, 1, 9, 9)  # distance to z = 0 along each ray
    spacing = 0.2 / 11
    assert torch.allclose(out.opacity, torch.ones_like(out.opacity), atol=1e-5)
    err = out.depth - true
    assert err.min() > -1e-5 and err.max() < spacing + 1e-5  # first sample inside the slab
    if hierarchical:
        coarse = VolumeRenderer(9, 12.0, 0.9, 1.1, 12, hierarchical=False).eval()
        assert err.mean() < 0.5 * (coarse(half_space, pose_to_cam2world(*DEFAULT_POSE)).depth - true).mean()


def test_density_normals_of_a_rendered_sphere_match_the_analytic_normals():
    c2w = pose_to_cam2world(*DEFAULT_POSE)
    out = VolumeRenderer(17, 12.0, 0.8, 1.2, 24, normals="density").eval()(sphere, c2w)
    d = camera_ray_directions(17, 12.0).reshape(17, 17, 3)
    o = torch.tensor([0.0, 0.0, 1.0])  # this camera's frame is the world frame shifted by o
    b = (d * -o).sum(-1)
    disc = b ** 2 - (1 - 0.1 ** 2)
    hit = o + (b - disc.clamp_min(0).sqrt())[..., None] * d
    n_true = (hit / 0.1).permute(2, 0, 1)
    inner = disc > 0.3 * disc.max()
    assert inner.sum() > 100
    assert (out.normal[0] * n_true).sum(0)[inner].min() > 0.98


def test_depth_normals_of_a_rendered_tilted_plane():
    c2w = pose_to_cam2world(*DEFAULT_POSE)
    n = torch.nn.functional.normalize(torch.tensor([0.4, 0.3, 1.0]), dim=0)

    def plane(points, dirs):
        return torch.sigmoid(points), 1e4 * ((points * n).sum(-1, keepdim=True) <= 0).float()

    out = VolumeRenderer(17, 12.0, 0.8, 1.2, 12, normals="depth").eval()(plane, c2w)
    inner = out.normal[0, :, 1:-1, 1:-1]
    cos = (inner * n[:, None, None]).sum(0)
    # depth is quantised by the samples, so single pixels are noisy; their average is the plane's normal
    assert cos.mean() > 0.9
    assert (torch.nn.functional.normalize(inner.mean((1, 2)), dim=0) * n).sum() > 0.99


def test_depth_normals_of_a_half_transparent_tilted_plane_follow_where_rays_stop():
    """A plane whose opacity fades across the image: sum w_i t_i alone would tilt it towards the camera where it
    fades; the normals come from sum w_i t_i / opacity (EG3D's depth), so they stay the plane's."""
    c2w = pose_to_cam2world(*DEFAULT_POSE)
    n = torch.nn.functional.normalize(torch.tensor([0.4, 0.3, 1.0]), dim=0)

    def faded_plane(points, dirs):  # a slab 0.08 thick, its density falling off with x (opacity ~1 -> ~0.3)
        h = (points * n).sum(-1, keepdim=True)
        inside = ((h <= 0) & (h > -0.08)).float()
        return torch.sigmoid(points), inside * 50.0 * torch.exp(-12 * (points[..., :1] + 0.1))

    out = VolumeRenderer(17, 12.0, 0.8, 1.2, 12, normals="depth", white_back=True).eval()(faded_plane, c2w)
    assert out.opacity.max() > 0.9 and out.opacity.min() < 0.4  # partly transparent: the case this is about
    inner = out.normal[0, :, 1:-1, 1:-1]
    assert (torch.nn.functional.normalize(inner.mean((1, 2)), dim=0) * n).sum() > 0.99
    from gen3d.models.rendering import normals_from_depth

    raw = normals_from_depth(out.depth, 12.0, "ray")[0, :, 1:-1, 1:-1]  # what sum w_i t_i alone would give
    assert (torch.nn.functional.normalize(raw.mean((1, 2)), dim=0) * n).sum() < 0.95


def test_eval_is_deterministic_and_training_jitters():
    r = VolumeRenderer(6, 12.0, 0.88, 1.12, 6)
    c2w = pose_to_cam2world(*DEFAULT_POSE)
    r.eval()
    a, b = r(sphere, c2w), r(sphere, c2w)
    assert torch.equal(a.image, b.image) and torch.equal(a.depths, b.depths)
    r.train()
    c = r(sphere, c2w, noise_std=0.5)
    assert not torch.equal(a.depths, c.depths)


def test_gradients_reach_the_representer():
    field = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 4))

    def rep(p, d):
        out = field(p * 10)
        return torch.sigmoid(out[..., :3]), out[..., 3:] * 10

    out = VolumeRenderer(5, 12.0, 0.88, 1.12, 6).train()(rep, pose_to_cam2world(*DEFAULT_POSE), noise_std=0.3)
    (out.image.mean() + out.depth.mean() + out.normal.mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in field.parameters())


def test_bad_arguments():
    with pytest.raises(ValueError, match="normals"):
        VolumeRenderer(normals="sdf")
    with pytest.raises(ValueError, match="num_steps"):
        VolumeRenderer(num_steps=2)


class _Field(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.SiLU(), nn.Linear(16, 4))

    def forward(self, p, d):
        out = self.net(torch.cat([p * 8, d], -1))
        return torch.sigmoid(out[..., :3]), out[..., 3:] * 20


class _Exported(nn.Module):
    def __init__(self):
        super().__init__()
        self.field, self.renderer = _Field(), VolumeRenderer(8, 12.0, 0.88, 1.12, 6, hierarchical=True)

    def forward(self, cam2world):
        out = self.renderer(self.field, cam2world)
        return out.image, out.depth, out.opacity, out.normal


def test_onnx_export_parity(tmp_path):
    torch.manual_seed(0)
    model = _Exported().eval()
    c2w = pose_to_cam2world(torch.tensor([1.4, 1.8]), torch.tensor([1.5, 1.7]))
    path = tmp_path / "renderer.onnx"
    torch.onnx.export(model, (c2w,), str(path), dynamo=False, opset_version=17, input_names=["cam2world"],
                      output_names=["image", "depth", "opacity", "normal"], dynamic_axes={"cam2world": {0: "batch"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    c2w3 = pose_to_cam2world(torch.tensor([1.3, 1.6, 2.0]), torch.tensor([1.4, 1.6, 1.9]))
    with torch.no_grad():
        ref = model(c2w3)
    got = sess.run(None, {"cam2world": c2w3.numpy()})
    for r, g in zip(ref, got):
        assert g.shape == tuple(r.shape)
        assert torch.allclose(torch.from_numpy(g), r, atol=1e-4)
