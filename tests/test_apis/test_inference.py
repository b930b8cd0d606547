"""gen3d.apis.inference: frame sources, class guessing, checkpoint/config mismatches."""

import cv2
import numpy as np
import pytest
import torch

from gen3d.apis.inference import guess_class, init_model, iter_frames


def test_iter_frames_folder_reports_corrupt_files_and_goes_on(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not an image")
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "c.jpg"), np.ones((8, 8, 3), np.uint8))
    frames = list(iter_frames(str(tmp_path)))
    assert [f.source.endswith(n) for f, n in zip(frames, ("a.png", "b.png", "c.jpg"))] == [True] * 3
    assert frames[0].image.shape == (8, 8, 3) and frames[1].image is None and "b.png" in frames[1].error


def test_iter_frames_missing_and_empty_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list(iter_frames(str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match="No images"):
        list(iter_frames(str(tmp_path)))


def test_guess_class_from_path():
    assert guess_class("/data/line3/bottle/img.png", ["bottle", "cable"]) == "bottle"
    assert guess_class("/data/line3/img.png", ["bottle", "cable"]) is None
    assert guess_class("/anything.png", ["only"]) == "only"


def test_init_model_refuses_checkpoint_without_config_and_foreign_model(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match="carries no config"):
        init_model(str(path))
    torch.save({"state_dict": {}, "meta": {"model_type": "ToyModel", "cfg": "model = dict(type='UniAD')\n"}}, path)
    with pytest.raises(ValueError, match="holds a ToyModel model, but the config builds UniAD"):
        init_model(str(path))
