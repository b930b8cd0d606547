"""``gen3d browse``: counts per class, split and defect type as training reads them; problems named."""

import json

from gen3d.cli import main as gen3d_main
from gen3d.datasets.anomaly.browse import format_summary, summarize_anomaly_root
from tests.helpers.anomaly_data import CLASSES, DEFECTS, N_DEFECT, N_TEST_GOOD, N_TRAIN, make_mvtec_tree


def test_mvtec_root_counts_and_problems(tmp_path):
    root = make_mvtec_tree(tmp_path / "mvtec")
    cls = CLASSES[0]
    (root / cls / "ground_truth" / DEFECTS[0] / "000_mask.png").unlink()  # one defect without its mask
    (root / cls / "test" / "good" / "000.png").write_bytes(b"not a png")  # one unreadable file
    summary = summarize_anomaly_root(str(root))
    assert summary["layout"] == "mvtec" and set(summary["classes"]) == set(CLASSES)
    splits = summary["classes"][cls]
    assert sum(splits["train"].values()) + sum(splits["val"].values()) == N_TRAIN and splits["val"]["good"] >= 1
    assert splits["test"]["good"] == N_TEST_GOOD and all(splits["test"][d] == N_DEFECT for d in DEFECTS)
    assert summary["masks"][cls] == {"with": N_DEFECT * len(DEFECTS) - 1, "without": 1}
    assert len(summary["bad_files"]) == 1 and "test/good/000.png" in summary["bad_files"][0]
    assert any(f"{cls}: 1 defective test image(s) without a mask" in p for p in summary["problems"])
    text = format_summary(summary)
    assert f"{cls:<16} test   {DEFECTS[0]:<22} {N_DEFECT:>7}" in text and "unreadable files (1)" in text


def test_folder_layout_without_defects_is_warned_and_cli(tmp_path, capsys):
    import numpy as np

    from tests.helpers.anomaly_data import normal_image, write_image

    rng = np.random.default_rng(0)
    for k in range(6):
        write_image(tmp_path / "root" / "widget" / "good" / f"{k}.png", normal_image(CLASSES[0], rng))
    out = tmp_path / "s.json"
    assert gen3d_main(["browse", str(tmp_path / "root"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(folder layout)" in printed and "widget: no defective test image" in printed
    assert json.loads(out.read_text())["classes"]["widget"]["test"]["good"] >= 1
    assert gen3d_main(["browse", str(tmp_path / "missing")]) == 1
