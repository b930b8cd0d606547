"""run_bundle and tools/infer.py on a bundle: CSV/JSONL verdicts, overlays, failed frames, and no torch anywhere."""

import csv
import io
import json
import os

import cv2
import pytest

from gen3d.runtime import StreamStalled, run_bundle
from gen3d.runtime.writers import COLUMNS, overlay_name
from tests.conftest import REPO_ROOT
from tests.test_runtime.bundle_helpers import assert_never_imports_torch, frame, make_bundle, run_without_torch
from tests.test_runtime.test_sources import write_video


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """``<root>/bottle/{good,bad}/000.png`` (same file names), a corrupt file, and ``<root>/cable/x.png``."""
    root = tmp_path_factory.mktemp("inputs")
    for sub, bright in (("good", False), ("bad", True)):
        (root / "bottle" / sub).mkdir(parents=True)
        cv2.imwrite(str(root / "bottle" / sub / "000.png"), frame(bright))
    (root / "bottle" / "broken.png").write_bytes(b"\x89PNG garbage")
    (root / "cable").mkdir()
    cv2.imwrite(str(root / "cable" / "x.png"), frame(True))
    return root


def test_folder_with_corrupt_file_csv_and_overlays(bundle, inputs, tmp_path):
    log = io.StringIO()
    summary = run_bundle(bundle, str(inputs), str(tmp_path), backend="onnxruntime", batch_size=2, log=log)
    rows = list(csv.DictReader(open(summary["verdicts"])))
    assert list(rows[0]) == list(COLUMNS)
    by_path = {os.path.relpath(r["path"], inputs): r for r in rows}
    assert set(by_path) == {"bottle/bad/000.png", "bottle/good/000.png", "bottle/broken.png", "cable/x.png"}
    broken = by_path["bottle/broken.png"]
    assert broken["error"] and broken["score"] == "" and broken["label"] == "" and broken["class"] == "bottle"
    assert "broken.png" in log.getvalue()
    assert by_path["bottle/good/000.png"]["label"] == "GOOD" and by_path["bottle/bad/000.png"]["label"] == "DEFECT"
    assert by_path["cable/x.png"]["class"] == "cable"  # the class comes from the path
    assert all(float(r["latency_ms"]) > 0 for r in rows if not r["error"])
    assert summary["counts"] == {"GOOD": 1, "DEFECT": 2, "unknown": 0, "error": 1}
    overlays = sorted(p.name for p in (tmp_path / "overlays").iterdir())
    assert overlays == ["bottle__bad__000.png", "bottle__good__000.png", "cable__x.png"]  # no name clash
    pic = cv2.imread(str(tmp_path / "overlays" / "cable__x.png"))
    assert pic.shape[1] == 2 * frame(True).shape[1]  # image | overlay at the frame's own size


def test_unknown_class_from_path_is_a_row_not_a_crash(bundle, tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), frame(True))
    summary = run_bundle(bundle, str(tmp_path / "a.png"), str(tmp_path / "out"), overlay=False, log=io.StringIO())
    row = next(csv.DictReader(open(summary["verdicts"])))
    assert "cannot tell the product class" in row["error"] and "bottle" in row["error"]
    with pytest.raises(ValueError, match="unknown class 'screw'"):
        run_bundle(bundle, str(tmp_path / "a.png"), str(tmp_path / "out"), class_name="screw", log=io.StringIO())


def test_video_jsonl(bundle, tmp_path):
    video = write_video(tmp_path / "line.avi", n=5, step=60)
    summary = run_bundle(bundle, str(video), str(tmp_path / "out"), class_name="cable", jsonl=True, log=io.StringIO(),
                         save="all")
    lines = [json.loads(x) for x in open(summary["verdicts"])]
    assert summary["verdicts"].endswith("verdicts.jsonl") and len(lines) == 5
    assert [x["path"] for x in lines] == [f"{video}#{i}" for i in range(5)]
    assert all(set(x) == set(COLUMNS) and x["class"] == "cable" and x["error"] is None for x in lines)
    assert [x["label"] for x in lines] == ["GOOD"] * 3 + ["DEFECT"] * 2  # frame i is 60*i grey; threshold 0.6
    assert isinstance(lines[0]["score"], float)
    assert len(list((tmp_path / "out" / "overlays").glob("line_0000*.png"))) == 5


def test_stalled_camera_keeps_what_came_before(bundle, tmp_path, monkeypatch):
    from gen3d.runtime import run as run_module
    from gen3d.runtime.sources import Frame

    def stalling(source, **kwargs):
        yield Frame("0#0", frame(True))
        yield Frame("0#1", None, "frame could not be read")
        raise StreamStalled("0 stopped delivering frames")

    monkeypatch.setattr(run_module, "iter_frames", stalling)
    with pytest.raises(StreamStalled):
        run_bundle(bundle, "0", str(tmp_path), class_name="bottle", overlay=False, log=io.StringIO())
    rows = list(csv.DictReader(open(tmp_path / "verdicts.csv")))
    assert [(r["path"], r["label"], bool(r["error"])) for r in rows] == [("0#0", "DEFECT", False), ("0#1", "", True)]


def test_overlay_names():
    assert overlay_name("/d/a/b.png", "/d") == "a__b.png"
    assert overlay_name("/v/line.mp4#12") == "line_000012.png"
    assert overlay_name("rtsp://cam:554/live#3") == "live_000003.png"
    assert overlay_name("0#7") == "0_000007.png"


def test_import_and_predict_never_import_torch(bundle):
    code = ("import sys\nimport gen3d.runtime as rt\nfrom tests.test_runtime.bundle_helpers import frame\n"
            "r = rt.AnomalyRuntime(sys.argv[1]).predict([frame(True)], 'bottle')[0]\nassert r.label is True\n")
    assert_never_imports_torch(code, bundle)


def test_infer_tool_with_a_bundle_end_to_end_without_torch(bundle, inputs, tmp_path):
    tool = str(REPO_ROOT / "tools" / "infer.py")
    out = run_without_torch(tool, bundle, str(inputs / "bottle"), "--out-dir", str(tmp_path / "o"), "--backend",
                            "onnxruntime", "--threads", "1")
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "o" / "verdicts.csv")))
    assert sorted(r["label"] for r in rows) == ["", "DEFECT", "GOOD"] and "broken.png" in out.stderr
    assert len(list((tmp_path / "o" / "overlays").glob("*.png"))) == 2
    out = run_without_torch(tool, bundle, str(tmp_path / "nothing_here"), "--out-dir", str(tmp_path / "o2"))
    assert out.returncode == 1 and "nothing_here" in out.stderr and out.stdout.strip().endswith("NO_TORCH_OK")
    out = run_without_torch(tool, bundle, str(inputs), "--backend", "tensorrt", "--out-dir", str(tmp_path / "o3"))
    assert out.returncode == 1 and "TensorRT" in out.stderr


def test_python_m_gen3d_runtime(bundle, inputs, tmp_path):
    out = run_without_torch("-c", "import runpy; runpy.run_module('gen3d.runtime', run_name='__main__')", bundle,
                            str(inputs / "cable"), "--out-dir", str(tmp_path), "--jsonl", "--no-overlay")
    assert out.returncode == 0 and out.stdout.strip().endswith("NO_TORCH_OK"), out.stderr[-3000:]
    assert json.loads((tmp_path / "verdicts.jsonl").read_text())["label"] == "DEFECT"
    assert not (tmp_path / "overlays").exists()


def test_overlay_names_never_collide(bundle, tmp_path):
    """Equal names in two folders, '#' in file names and a flattened twin each get their own overlay."""
    root = tmp_path / "in" / "bottle"
    names = ["good/000.png", "crack/000.png", "a/lot#1.png", "a/lot#2.png", "good__000.png"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), frame(True))
    summary = run_bundle(bundle, str(root), str(tmp_path / "out"), class_name="bottle", log=io.StringIO())
    assert summary["counts"]["DEFECT"] == len(names)
    overlays = sorted(p.name for p in (tmp_path / "out" / "overlays").iterdir())
    assert len(overlays) == len(names) and "a__lot#1.png" in overlays and "a__lot#2.png" in overlays
    assert overlay_name("/v/line.mp4#12") == "line_000012.png"


def test_the_runtime_writes_nothing_outside_its_out_dir(bundle, inputs, tmp_path):
    """onnxruntime's device-id and telemetry files go under --out-dir/.cache, not the home folder."""
    import subprocess
    import sys

    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    env.update(HOME=str(home), PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "gen3d.runtime", bundle, str(inputs / "cable" / "x.png"),
                          "--out-dir", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(home.iterdir()) == []
    assert (out / "verdicts.csv").is_file() and (out / ".cache").is_dir()


def test_video_input_stride_save_defects_annotated_mp4_and_frame_log(bundle, tmp_path):
    """A line's video: every 2nd frame judged, a log line each, PNGs only for defects, one annotated MP4."""
    video = write_video(tmp_path / "line.avi", n=6, size=(32, 24), step=50)  # frames 0, 50, ... 250 grey
    log = io.StringIO()
    summary = run_bundle(bundle, str(video), str(tmp_path / "out"), class_name="bottle", log=log, video=True,
                         vid_stride=2)
    assert summary["frames"] == 3 and summary["latency_ms"]["p95"] >= summary["latency_ms"]["mean"] * 0 > -1
    lines = [ln for ln in log.getvalue().splitlines() if ln.startswith(str(video))]
    assert [ln.split()[0] for ln in lines] == [f"{video}#{i}" for i in (0, 2, 4)] and all(" ms" in ln for ln in lines)
    defects = summary["counts"]["DEFECT"]
    assert 0 < defects < 3  # the bright frames are defects, the dark one is not
    assert len(list((tmp_path / "out" / "overlays").iterdir())) == defects  # save='defects' for videos
    cap = cv2.VideoCapture(summary["video"])
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert "latency mean" in log.getvalue().splitlines()[-1]
    with pytest.raises(ValueError, match="save must be one of"):
        run_bundle(bundle, str(video), str(tmp_path / "o2"), class_name="bottle", log=io.StringIO(), save="some")
