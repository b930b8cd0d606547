"""Data problems reach the user of tools/test.py as one ``error:`` line, and --skip-bad-images reaches every dataset."""

import importlib.util

import pytest
import torch

from gen3d.engine.launch import build_train_config
from tests.conftest import REPO_ROOT, TOY_CONFIG
from tests.helpers.anomaly_data import make_mvtec_tree

UNIAD_TINY = str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py")


def _test_tool():
    spec = importlib.util.spec_from_file_location("gen3d_tools_test", REPO_ROOT / "tools" / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_skip_bad_images_sets_every_dataset(tmp_path):
    root = make_mvtec_tree(tmp_path / "mvtec")
    cfg = build_train_config(UNIAD_TINY, str(tmp_path / "w"), str(root), skip_bad_images=True)
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert cfg[loader]["dataset"]["bad_files"] == "skip"
    assert "bad_files" not in build_train_config(UNIAD_TINY, str(tmp_path / "w"), str(root)).train_dataloader.dataset
    with pytest.raises(ValueError, match="no dataset of config .* checks its files"):  # ToyDataset has no check
        build_train_config(str(TOY_CONFIG), str(tmp_path / "w"), str(tmp_path), skip_bad_images=True)


@pytest.mark.parametrize("damage, message", [
    ("empty_root", "error: no class folder found under data_root"),
    ("no_mask", "error: no mask for defective image {root}/bottle/test/crack/001.png (expected "
                "{root}/bottle/ground_truth/crack/001_mask.png)"),
    ("bad_image", "error: 1 bad file(s) out of 20 in the test images of MVTecDataset"),
])
def test_test_tool_data_errors_are_one_line(tmp_path, damage, message):
    root = make_mvtec_tree(tmp_path / "mvtec")
    if damage == "empty_root":
        root = tmp_path / "empty"
        root.mkdir()
    elif damage == "no_mask":
        (root / "bottle" / "ground_truth" / "crack" / "001_mask.png").unlink()
    else:
        (root / "carpet" / "test" / "good" / "000.png").write_text("not an image")
    ckpt = tmp_path / "uniad.pth"  # the test dataset is built before the weights are loaded
    torch.save({"state_dict": {}, "meta": {"model_type": "UniAD"}}, ckpt)
    with pytest.raises(SystemExit) as exit_info:
        _test_tool().main([UNIAD_TINY, str(ckpt), "--data-root", str(root), "--work-dir", str(tmp_path / "w")])
    assert str(exit_info.value.code).startswith(message.format(root=root))


def test_train_tool_bad_images_one_line_or_skipped(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gen3d_tools_train", REPO_ROOT / "tools" / "train.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = make_mvtec_tree(tmp_path / "mvtec")
    (root / "bottle" / "train" / "good" / "002.png").write_bytes(b"")
    args = [UNIAD_TINY, "--data-root", str(root), "--work-dir", str(tmp_path / "w")]
    with pytest.raises(SystemExit) as exit_info:  # refused when the datasets are built, before the first iteration
        tool.main(args)
    assert str(exit_info.value.code).startswith("error: 1 bad file(s) out of 12 in the train + val images")
    assert not list((tmp_path / "w").glob("*.pth"))
    tool.main([*args, "--skip-bad-images", "--dry-run"])
    assert capsys.readouterr().out.count("bad_files='skip'") == 3
