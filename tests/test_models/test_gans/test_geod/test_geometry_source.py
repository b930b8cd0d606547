"""Real-image geometry sources: dataset ground truth, precomputed maps on disk, the frozen-after-N inverse renderer."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gen3d.models.gans.geod import DatasetGeometry, InverseRendererGeometry, PrecomputedGeometry

from .toys import shaded_spheres

TINY = dict(resolution=8, nf=4, zdim=8, light_nf=4, conf_nf=4, conf_zdim=8)


def test_dataset_geometry_reads_the_preprocessor_keys():
    imgs = torch.rand(2, 3, 8, 8)
    batch = dict(real_normal=torch.rand(2, 3, 8, 8), real_depth=torch.rand(2, 1, 8, 8),
                 real_mask=torch.ones(2, 1, 8, 8))
    out = DatasetGeometry(("normal", "depth"))(imgs, batch)
    assert all(out[k] is batch[f"real_{k}"] for k in ("normal", "depth", "mask"))
    assert DatasetGeometry()(imgs, dict(real_normal=batch["real_normal"]))["mask"] is None
    with pytest.raises(KeyError, match="real_depth"):
        DatasetGeometry(("normal", "depth"))(imgs, dict(real_normal=batch["real_normal"]))
    with pytest.raises(ValueError, match="does not match"):
        DatasetGeometry()(imgs, dict(real_normal=torch.rand(2, 3, 4, 4)))
    assert DatasetGeometry().step(imgs) is None


def test_precomputed_geometry_saves_the_posed_image_layout(tmp_path):
    _, normals, masks = shaded_spheres(2, 8)
    depth = torch.rand(2, 1, 8, 8) + 2
    PrecomputedGeometry.save(tmp_path, ["a", "b"], normals, depth, masks)
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / "normal" / "b.png")), cv2.COLOR_BGR2RGB)
    decoded = torch.from_numpy(rgb).float().permute(2, 0, 1) / 127.5 - 1
    assert torch.allclose(decoded, normals[1], atol=1.0 / 127)
    assert np.allclose(np.load(tmp_path / "depth" / "a.npy"), depth[0, 0].numpy())
    assert (cv2.imread(str(tmp_path / "mask" / "a.png"), cv2.IMREAD_UNCHANGED) == masks[0, 0].numpy() * 255).all()
    with pytest.raises(ValueError, match="plain file name"):
        PrecomputedGeometry.save(tmp_path, ["../x", "b"], normals)
    batch = dict(real_normal=normals)  # what the dataset then loads, read like the dataset source
    assert PrecomputedGeometry()(torch.rand(2, 3, 8, 8), batch)["normal"] is normals


def test_inverse_renderer_source_trains_with_its_own_adam_and_freezes():
    torch.manual_seed(0)
    imgs, _, _ = shaded_spheres(4, 16)
    src = InverseRendererGeometry(TINY, freeze_kimg=0.008)  # 8 images
    opt = src.optimizer
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.9, 0.999) and opt.defaults["weight_decay"] == 5e-4
    before = [p.detach().clone() for p in src.renderer.parameters()]
    losses = src.step(imgs)
    assert set(losses) >= {"loss", "l1", "l1_flip"} and int(src.seen_img) == 4
    changed = [p.detach().clone() for p in src.renderer.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(before, changed))
    src.step(imgs)
    src.step(imgs)  # 12 > 8 images: frozen from now on
    assert src.frozen
    frozen = [p.detach().clone() for p in src.renderer.parameters()]
    assert src.step(imgs) is None
    assert all(torch.equal(a, b) for a, b in zip(frozen, src.renderer.parameters()))
    assert "seen_img" in src.state_dict()


def test_inverse_renderer_source_maps_at_the_image_size():
    torch.manual_seed(0)
    src = InverseRendererGeometry(TINY)
    imgs = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = src(imgs)
    assert out["normal"].shape == (2, 3, 16, 16) and out["depth"].shape == (2, 1, 16, 16)
    assert out["mask"].shape == (2, 1, 16, 16)
    assert torch.allclose(out["normal"].norm(dim=1), torch.ones(2, 16, 16), atol=1e-5)
    out["normal"].sum().backward()  # pof3d uses it on fake images without detaching: gradients reach the image
    assert imgs.grad is not None and imgs.grad.abs().sum() > 0
    built = InverseRendererGeometry(dict(type="Unsup3dInverseRenderer", **TINY))
    assert F.mse_loss(built(imgs)["depth"], built(imgs)["depth"]) == 0
