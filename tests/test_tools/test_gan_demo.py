"""``make demo-gan``'s tool end to end at a tiny budget: offline faces, training, metric rows, grids, curve."""

import json

import pytest

from gen3d.demos.gan_demo import METRIC_KEYS
from tests.conftest import run_tool


@pytest.mark.slow
def test_gan_demo_tool_four_iterations(tmp_path):
    out = run_tool("demo_gan.py", "--work-dir", str(tmp_path), "--iters", "4", "--evals", "1", timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["dataset"]["images"] == 100 and results["dataset"]["resolution"] == 32
    rows = results["StyleGAN2"]["rows"]
    assert [r["iter"] for r in rows] == [0, 4]  # untrained, then after training
    key = next(k for k in METRIC_KEYS if k in rows[0])
    assert key in ("fid", "fd_lite0")  # fd_lite0 unless the Inception weights are in torch.hub's cache
    assert all(r[key] > 0 for r in rows)
    samples = tmp_path / "stylegan2" / "samples"
    assert (samples / "iter_000000.png").exists() and (samples / "iter_000004.png").exists()
    assert (tmp_path / "metric_curve.png").stat().st_size > 1000
    assert "(untrained) ->" in out.stdout
