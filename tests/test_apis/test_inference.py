"""gen3d.apis.inference and tools/infer.py: frame sources, class guessing, checkpoint/config mismatches."""

import csv

import cv2
import numpy as np
import pytest
import torch

from gen3d.apis.inference import init_anomaly_model, init_model, is_anomaly_model
from gen3d.runtime.run import guess_class
from gen3d.runtime.sources import iter_frames
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.gan import make_tiny_gan_checkpoint


def test_iter_frames_folder_reports_corrupt_files_and_goes_on(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not an image")
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "c.jpg"), np.ones((8, 8, 3), np.uint8))
    frames = list(iter_frames(str(tmp_path)))
    assert [f.source.endswith(n) for f, n in zip(frames, ("a.png", "b.png", "c.jpg"))] == [True] * 3
    assert frames[0].rgb.shape == (8, 8, 3) and frames[1].rgb is None and "b.png" in frames[1].error


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


def _video_with_corrupt_frame(path, n_frames: int = 6, bad: int = 2, size: int = 64) -> None:
    """An MJPG AVI whose frame ``bad`` has its JPEG data zeroed (OpenCV fails on it, then reads on)."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (size, size))
    for _ in range(n_frames):
        writer.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]  # JPEG SOI markers
    assert len(starts) == n_frames
    data[starts[bad]:starts[bad] + 600] = bytes(600)
    path.write_bytes(bytes(data))


def test_iter_frames_video_goes_on_after_a_corrupt_frame(tmp_path):
    video = tmp_path / "line.avi"
    _video_with_corrupt_frame(video)
    frames = list(iter_frames(str(video)))
    assert [f.source for f in frames] == [f"{video}#{i}" for i in range(6)]
    assert [f.rgb is None for f in frames] == [False, False, True, False, False, False]
    assert frames[2].error and frames[3].rgb.shape == (64, 64, 3)


def _tiny_uniad_checkpoint(path):
    """A tiny UniAD (random weights, tests/data/configs/uniad_tiny.py) saved as tools/train.py saves one."""
    from gen3d.registry import MODELS
    from gen3d.utils.config import load_config

    cfg = load_config(str(REPO_ROOT / "tests" / "data" / "configs" / "uniad_tiny.py"))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model.to_dict())
    meta = {"cfg": cfg.pretty_text, "model_type": "UniAD", "thresholds": {"bottle": {"image": 0.0, "pixel": 1e9}}}
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path


def test_infer_checkpoint_on_a_video_with_a_corrupt_frame(tmp_path):
    ckpt = _tiny_uniad_checkpoint(tmp_path / "uniad.pth")
    video = tmp_path / "line.avi"
    _video_with_corrupt_frame(video)
    out = run_tool("infer.py", str(ckpt), str(video), "--out-dir", str(tmp_path / "out"), "--class-name", "bottle")
    assert out.returncode == 0, out.stderr[-4000:]
    rows = list(csv.DictReader((tmp_path / "out" / "verdicts.csv").open()))
    rows.sort(key=lambda r: int(r["path"].rsplit("#", 1)[1]))  # errors are written at once, frames per batch
    assert [r["path"] for r in rows] == [f"{video}#{i}" for i in range(6)]
    assert [bool(r["error"]) for r in rows] == [False, False, True, False, False, False]
    assert all(r["label"] == "DEFECT" for r in rows if not r["error"])  # image threshold 0 from the checkpoint
    assert f"{video}#2" in out.stderr


def test_init_anomaly_model_refuses_a_gan_checkpoint(tmp_path):
    ckpt = make_tiny_gan_checkpoint(tmp_path / "gan.pth")
    with pytest.raises(ValueError, match="holds a StyleGAN2 model, not an anomaly detector"):
        init_anomaly_model(str(ckpt))
    assert not is_anomaly_model(init_model(str(ckpt)))  # init_model itself stays generic (deploy, GAN sampling)


@pytest.mark.parametrize("kind", ["gan", "garbage"])
def test_infer_tool_names_a_checkpoint_it_cannot_run(tmp_path, kind):
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.zeros((16, 16, 3), np.uint8))
    if kind == "gan":
        ckpt, expected = make_tiny_gan_checkpoint(tmp_path / "gan.pth"), "not an anomaly detector"
    else:
        ckpt, expected = tmp_path / "garbage.pth", "garbage.pth"
        ckpt.write_bytes(b"not a checkpoint")
    out = run_tool("infer.py", str(ckpt), str(image), "--out-dir", str(tmp_path / "out"))
    assert out.returncode != 0
    assert out.stderr.startswith("error:") and expected in out.stderr and "Traceback" not in out.stderr


def test_infer_checkpoint_runs_the_runtime_loop_with_the_bundle_score_meaning(tmp_path):
    """One loop: JSONL, latency, collision-free overlay names, and score = clip(raw / (2 t), 0, 1) as bundles."""
    import json

    from gen3d.apis.inference import inference_anomaly

    ckpt = _tiny_uniad_checkpoint(tmp_path / "uniad.pth")
    root = tmp_path / "in"
    rng = np.random.default_rng(0)
    names = ["good/000.png", "crack/000.png", "a/lot#1.png", "a/lot#2.png", "good__000.png"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
    thr = tmp_path / "thr.json"
    thr.write_text(json.dumps({"bottle": {"image": 0.25, "pixel": 0.5}}))
    out = run_tool("infer.py", str(ckpt), str(root), "--out-dir", str(tmp_path / "out"), "--class-name", "bottle",
                   "--jsonl", "--thresholds", str(thr), "--batch-size", "2")
    assert out.returncode == 0, out.stderr[-4000:]
    rows = [json.loads(line) for line in (tmp_path / "out" / "verdicts.jsonl").open()]
    assert sorted(r["path"] for r in rows) == sorted(str(root / n) for n in names)
    assert all(r["latency_ms"] > 0 and r["class"] == "bottle" and r["error"] is None for r in rows)
    overlays = list((tmp_path / "out" / "overlays").iterdir())
    assert len({p.name for p in overlays}) == len(names)  # nothing overwritten
    model = init_anomaly_model(str(ckpt))
    for row in rows:
        rgb = cv2.cvtColor(cv2.imread(row["path"]), cv2.COLOR_BGR2RGB)
        raw = float(inference_anomaly(model, [rgb], ["bottle"])[0].pred_score)
        assert row["score"] == pytest.approx(min(max(raw / 0.5, 0.0), 1.0), rel=1e-4)
        assert row["label"] == ("DEFECT" if raw >= 0.25 else "GOOD")
