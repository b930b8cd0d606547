"""ArcFace identity loss (pSp criteria/id_loss.py semantics) from a TreB1eN-named weights file: the crop / pool /
embedding / 1 - cos pipeline written out by hand, the resize of other sizes to 256 first, gradients to the
reconstruction only, clear errors for a missing file or key, the term in PadInvLoss."""

import functools

import pytest
import torch
from torch.nn import functional as F

from gen3d.models.losses.identity import IdentityLoss
from tests.test_models.test_backbones.test_iresnet import official_state_dict, reference_forward


@pytest.fixture(scope="module")
def arcface(tmp_path_factory):
    path = tmp_path_factory.mktemp("arcface") / "model_ir_se50.pth"
    torch.save(_state(), path)
    return str(path)


@pytest.fixture(scope="module")
def loss(arcface):
    return IdentityLoss(weights=arcface)


def _faces(n=2, size=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    return (real + 0.5 * torch.randn(n, 3, size, size, generator=g)).clamp(-1, 1), real


@functools.lru_cache(maxsize=1)
def _state():
    return official_state_dict(seed=3)


def _reference(x):
    """pSp extract_feats: crop [35:223, 32:220] of the 256-px face, adaptive pool to 112, ArcFace (by hand)."""
    if x.shape[-1] != 256:
        x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
    return reference_forward(_state(), F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], 112))


def test_loss_is_one_minus_cosine_of_the_cropped_embeddings(loss):
    fake, real = _faces()
    with torch.no_grad():
        out = loss(fake, real)
        ref = 1 - (_reference(fake) * _reference(real)).sum(1)
        same = loss(real, real)
    assert out.shape == (2,) and torch.allclose(out, ref, atol=1e-5)
    assert (out > 0).all() and (out <= 2).all() and torch.allclose(same, torch.zeros(2), atol=1e-6)
    assert not loss.facenet.training and not loss.train().facenet.training  # frozen BN, always eval


def test_smaller_images_are_resized_to_256_first(loss):
    fake, real = _faces(size=64, seed=1)
    with torch.no_grad():
        out = loss(fake, real)
        ref = 1 - (_reference(fake) * _reference(real)).sum(1)  # resized to 256 by hand there
    assert torch.allclose(out, ref, atol=1e-5)


def test_gradients_reach_the_reconstruction_only(loss):
    fake, real = _faces(n=1, seed=2)
    fake.requires_grad_(True)
    real.requires_grad_(True)
    loss(fake, real).sum().backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None
    assert not any(p.requires_grad for p in loss.parameters())


def test_refusals_name_the_file_and_the_key(arcface, tmp_path, loss):
    with pytest.raises(FileNotFoundError, match="arcface_weights='/no/model_ir_se50.pth'"):
        IdentityLoss(weights="/no/model_ir_se50.pth")
    with pytest.raises(ValueError, match="arcface_weights"):
        IdentityLoss(weights=None)
    sd = dict(_state())
    del sd["output_layer.3.weight"]  # a backbone-only file is not an ArcFace embedding net
    torch.save(sd, tmp_path / "no_head.pth")
    with pytest.raises(ValueError, match="missing key 'output_layer.3.weight'"):
        IdentityLoss(weights=str(tmp_path / "no_head.pth"))
    with pytest.raises(ValueError, match=r"fake must be \(N, 3, H, W\)"):
        loss(torch.rand(1, 1, 256, 256), torch.rand(1, 1, 256, 256))
    with pytest.raises(ValueError, match="one shape"):
        loss(torch.rand(1, 3, 256, 256), torch.rand(1, 3, 128, 128))


def test_identity_term_in_the_padinv_loss(arcface):
    from gen3d.models.editing.padinv import PadInvLoss

    crit = PadInvLoss(lpips_weight=0.0, id_weight=0.1, arcface_weights=arcface)
    fake, real = _faces(n=2, size=32, seed=4)
    grey_fake, grey_real = fake[:, :1], real[:, :1]  # grey faces go to ArcFace as 3 equal channels
    terms = crit(grey_fake, grey_real, torch.zeros(2, 3, 4), torch.zeros(4))
    with torch.no_grad():
        ref = 1 - (_reference(grey_fake.expand(-1, 3, -1, -1)) * _reference(grey_real.expand(-1, 3, -1, -1))).sum(1)
    assert crit.enabled["id"] == 0.1 and torch.allclose(terms["loss_id"], ref.mean(), atol=1e-5)
    assert torch.allclose(terms["loss"], terms["loss_mse"] + 0.1 * terms["loss_id"] + 0.003 * terms["loss_wnorm"])
