"""Reconstruction metrics: MSE / PSNR by hand, SSIM against scikit-image, the registered metric over batches."""

import math

import numpy as np
import pytest
import torch

from gen3d.evaluation.metrics.reconstruction import ReconstructionMetric, gaussian_window, mse, psnr, ssim
from gen3d.registry import METRICS, MODELS


def _pair(n=3, c=3, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, c, size, size, generator=g) * 2 - 1
    b = (a + 0.2 * torch.randn(n, c, size, size, generator=g)).clamp(-1, 1)
    return a, b


def test_mse_and_psnr_known_values():
    a = torch.zeros(2, 1, 16, 16)
    b = torch.full_like(a, 0.2)  # MSE 0.04 on [-1, 1]: 10 log10(4 / 0.04) = 20 dB
    assert torch.allclose(mse(b, a), torch.full((2,), 0.04, dtype=torch.float64))
    assert torch.allclose(psnr(b, a), torch.full((2,), 20.0, dtype=torch.float64))
    assert torch.allclose(psnr(b, a, data_range=1.0), torch.full((2,), 10 * math.log10(25), dtype=torch.float64))
    assert torch.isinf(psnr(a, a)).all()
    with pytest.raises(ValueError, match="one shape"):
        mse(a, a[:, :, :8])


def test_ssim_identical_is_one_and_matches_skimage():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a, b = _pair()
    assert torch.allclose(ssim(a, a), torch.ones(3, dtype=torch.float64))
    ours = ssim(b, a)
    to_uint8 = lambda t: ((t + 1) * 127.5).round().numpy().astype(np.uint8)  # noqa: E731
    for i in range(3):  # on [0, 1] images (the [-1, 1] ones are mapped there)
        ref = skimage_metrics.structural_similarity(
            ((a[i] + 1) / 2).numpy().astype(np.float64), ((b[i] + 1) / 2).numpy().astype(np.float64), channel_axis=0,
            data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert abs(float(ours[i]) - ref) < 1e-6, (float(ours[i]), ref)
        ref8 = skimage_metrics.structural_similarity(to_uint8(a[i]), to_uint8(b[i]), channel_axis=0, data_range=255,
                                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert abs(float(ours[i]) - ref8) < 5e-3  # the uint8 images' SSIM, up to rounding
    assert torch.allclose(ssim((b + 1) / 2, (a + 1) / 2, value_range=(0.0, 1.0)), ours)
    assert float(ssim(-a, a).mean()) < 0 < float(ours.mean()) < 1
    g = gaussian_window()
    assert g.shape == (11,) and abs(float(g.sum()) - 1) < 1e-12 and int(g.argmax()) == 5
    with pytest.raises(ValueError, match="at least 11"):
        ssim(a[:, :, :8, :8], b[:, :, :8, :8])


def test_registered_metric_averages_over_batches(monkeypatch):
    assert METRICS.get("ReconstructionMetric") is ReconstructionMetric
    metric = ReconstructionMetric()
    a, b = _pair(n=4, c=1)
    b[0, 0, 0, 0] = 3.0  # out of range: clamped before scoring
    metric.process(None, [{"recon": b[i], "real": a[i]} for i in range(2)])
    metric.process(None, [{"recon": b[i], "real": a[i]} for i in range(2, 4)])
    res = metric.evaluate(4)
    clamped = b.clamp(-1, 1)
    assert set(res) == {"recon/mse", "recon/psnr", "recon/ssim"}
    assert abs(res["recon/mse"] - float(mse(clamped, a).mean())) < 1e-9
    assert abs(res["recon/psnr"] - float(psnr(clamped, a).mean())) < 1e-9
    assert abs(res["recon/ssim"] - float(ssim(clamped, a).mean())) < 1e-9
    with pytest.raises(KeyError, match="'recon' and 'real'"):
        metric.process(None, [{"fake_img": a[0]}])
    with pytest.raises(ValueError, match="data_range"):
        ReconstructionMetric(data_range=255)

    class FakeLPIPS(torch.nn.Module):
        def forward(self, x, y):
            assert x.shape[1] == 3
            return (x - y).abs().flatten(1).mean(1)

    built = []
    monkeypatch.setattr(MODELS, "get", lambda name: FakeLPIPS if name == "LPIPS" else None)
    monkeypatch.setattr(MODELS, "build", lambda cfg: built.append(cfg) or FakeLPIPS())
    metric = ReconstructionMetric(lpips_weights="alex.pth")
    assert built == [dict(type="LPIPS", weights="alex.pth")]
    metric.process(None, [{"recon": b[i], "real": a[i]} for i in range(4)])
    assert abs(metric.evaluate(4)["recon/lpips"] - float((clamped - a).abs().mean())) < 1e-6
    monkeypatch.setattr(MODELS, "get", lambda name: None)
    with pytest.raises(ValueError, match="lpips_weights"):
        ReconstructionMetric(lpips_weights="alex.pth")
