"""The PadInv comparison at a tiny budget: data split, G trained on the training faces only, both encoders with the
same budget, metrics on held-out and training faces, the picture and the table."""

import math

import cv2

from gen3d.demos.padinv_demo import BORDER, CONFIGS, N_HOLDOUT, NUM_PICTURE, format_padinv_table, run_padinv_comparison


def test_tiny_comparison(tmp_path):
    res = run_padinv_comparison(str(tmp_path), iters=2, g_iters=2, seed=3)
    data = tmp_path / "data" / "lfw-faces"
    held = {p.name for p in (data / "holdout").glob("*.png")}
    train = {p.name for p in (data / "train").glob("*.png")}
    assert len(held) == N_HOLDOUT and len(train) == 100 - N_HOLDOUT and not held & train
    assert res["n_heldout"] == N_HOLDOUT and res["n_train"] == 100 - N_HOLDOUT and res["iters"] == 2
    gen = res["generator"]
    assert gen["trained_here"] and gen["iters"] == 2 and (tmp_path / "stylegan2" / "iter_2.pth").is_file()
    assert not list((tmp_path / "stylegan2").rglob("metrics.csv"))  # no FID validation of G here
    keys = {"mse", "psnr", "ssim", f"mse_border{BORDER}", "mse_interior"}
    for name in CONFIGS:
        for split in ("heldout", "train"):
            assert set(res[name][split]) == keys and all(math.isfinite(v) for v in res[name][split].values())
        assert (tmp_path / ("wplus" if name == "W+" else "wplus_padding") / "iter_2.pth").is_file()
    assert res["W+"]["heldout"] != res["W+ + padding"]["heldout"]
    img = cv2.imread(res["picture"])
    assert img is not None and img.shape[0] > NUM_PICTURE * 32 and img.shape[1] > 3 * 32
    table = format_padinv_table(res)
    assert "W+ + padding" in table and "heldout (20)" in table and "train (80)" in table and "2 iterations" in table
