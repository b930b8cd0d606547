"""``make demo-3d``'s tool end to end at a tiny budget: the set, two runs side by side, the probe, scores, pictures."""

import json
import math

import pytest

from tests.conftest import run_tool


@pytest.mark.slow
def test_demo_3d_tool_two_iterations(tmp_path):
    out = run_tool("demo_3d.py", "--work-dir", str(tmp_path), "--iters", "2", "--evals", "1", "--images", "12",
                   "--probe-iters", "2", "--score-fakes", "4", "--grid-rows", "2", "--sweep-frames", "3",
                   timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["runs"]) == {"pi-GAN", "pi-GAN + GeoD"} and results["probe"]["test_images"] == 2
    for name, run in results["runs"].items():
        geo = run["geometry"]
        assert geo["num"] == 4, name  # a 2-step probe may see no object inside its eroded mask: NaN, 0 pixels
        assert (geo["pixels"] == 0 and math.isnan(geo["normal_mean_deg"])) or 0 <= geo["normal_mean_deg"] <= 180
        assert run["validation"]["iter"] == 2 and any(k.endswith("fd_lite0") or k.endswith("fid")
                                                       for k in run["validation"])
    assert (tmp_path / "pi_gan_geod" / "iter_2.pth").exists()
    assert "loss_geo_g" in (tmp_path / "pi_gan_geod" / "train.log").read_text()  # the GeoD arm ran GeoD
    assert "loss_geo_g" not in (tmp_path / "pi_gan" / "train.log").read_text()
    assert (tmp_path / "compare_geometry.png").stat().st_size > 1000
    assert list((tmp_path / "pi_gan").glob("sweep_yaw_*.gif"))
    assert "pi-GAN + GeoD" in out.stdout and "held-out real images" in out.stdout
