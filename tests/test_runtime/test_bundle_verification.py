"""Bundles are verified whole or refused with the reason; names from data are safe paths; CSV cells are inert."""

import csv
import io
import os

import cv2
import pytest

from gen3d.runtime import AnomalyRuntime, ManifestError, run_bundle
from gen3d.runtime.__main__ import main as runtime_main
from gen3d.runtime.anomaly import Result
from gen3d.runtime.manifest import HASH_KEY, UnverifiedBundleWarning, load_manifest, manifest_digest, reseal_bundle
from gen3d.runtime.paths import UnsafePathError, safe_component, safe_join
from gen3d.runtime.reseal import main as reseal_main
from gen3d.runtime.writers import VerdictWriter
from tests.test_runtime.bundle_helpers import edit_manifest, frame, make_bundle


@pytest.mark.parametrize("name", ["../../..", "..", ".", "", "/etc/passwd", "..\\..", "C:\\x", "a/b", "a\x00b",
                                  "\x1b[31m", ".bashrc", "-rf", "CON", "nul.txt", "x" * 400, "é" * 200])
def test_safe_component_is_one_harmless_component(name):
    out = safe_component(name)
    assert out and out not in (".", "..") and not out.startswith((".", "-"))
    assert not set(out) & set('/\\<>:"|?*') and all(ord(c) >= 32 for c in out)
    assert out.split(".")[0].upper() not in ("CON", "NUL") and len(out.encode()) <= 120
    assert safe_component(out) == out == safe_component(name)  # deterministic and idempotent
    assert out != name and "~" in out  # a changed name carries a hash of the original


def test_safe_component_keeps_plain_names_and_separates_changed_ones():
    for name in ("bottle", "good__000", "metal_nut", "=SUM(1,2)+cmd", "木材", "v1.2"):
        assert safe_component(name) == name
    assert len({safe_component(n) for n in ("a/b", "a\\b", "a_b", "a:b", "../a_b")}) == 5


def test_safe_join_stays_under_root_even_through_symlinks(tmp_path):
    root = tmp_path / "show"
    root.mkdir()
    assert safe_join(str(root), "../../..", "/abs", "x.png").startswith(str(root) + os.sep)
    os.symlink(tmp_path, root / "link")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(str(root), "link", "x.png")


def _drop_onnx_hash_and_redigest(m):
    m["onnx"].pop("sha256")
    m[HASH_KEY] = manifest_digest(m)  # a consistent manifest that simply no longer names the file's hash


@pytest.mark.parametrize("attack, reason", [
    (lambda m: m["model"]["classes"].reverse(), "does not match its manifest_sha256"),
    (lambda m: m["thresholds"]["bottle"].update(image=99.0), "does not match its manifest_sha256"),
    (lambda m: m["inputs"][2]["default"].reverse(), "does not match its manifest_sha256"),
    (lambda m: m["onnx"].pop("sha256"), "does not match its manifest_sha256"),
    (_drop_onnx_hash_and_redigest, "onnx.sha256 is missing"),
    (lambda m: m.pop(HASH_KEY), "has no manifest_sha256"),
])
def test_modified_bundles_are_refused_with_the_reason(tmp_path, attack, reason):
    bundle = make_bundle(tmp_path / "b")
    edit_manifest(bundle, attack, seal=False)
    with pytest.raises(ManifestError, match=reason) as err:
        AnomalyRuntime(bundle, backend="onnxruntime")
    assert "gen3d.runtime.reseal" in str(err.value) and "--allow-modified-bundle" in str(err.value)
    with pytest.warns(UnverifiedBundleWarning, match=reason):  # the explicit opt-out loads it, loudly
        AnomalyRuntime(bundle, backend="onnxruntime", verify_hashes=False)
    assert reseal_bundle(bundle)[-1] == HASH_KEY  # sealed again on purpose: verified
    AnomalyRuntime(bundle, backend="onnxruntime")


@pytest.mark.parametrize("where", ["../outside.onnx", "ABS", "sub/../../outside.onnx", "LINK", "..\\outside.onnx"])
def test_files_outside_the_bundle_are_refused_even_with_the_opt_out(tmp_path, where):
    bundle = make_bundle(tmp_path / "b")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(open(os.path.join(bundle, "model.onnx"), "rb").read())
    if where == "LINK":
        os.symlink(outside, os.path.join(bundle, "link.onnx"))
    name = {"ABS": str(outside), "LINK": "link.onnx"}.get(where, where)
    edit_manifest(bundle, lambda m: m["onnx"].update(file=name), seal=False)
    for verify in (True, False):
        with pytest.raises(ManifestError, match="outside the bundle|not a plain relative file name"):
            load_manifest(bundle, verify_hashes=verify)
    with pytest.raises(ManifestError, match="onnx.file"):
        reseal_bundle(bundle)


def test_engine_hash_is_checked(tmp_path):
    bundle = make_bundle(tmp_path / "b", engine={"file": "model.engine", "precision": "fp16"})
    open(os.path.join(bundle, "model.engine"), "wb").write(b"engine")
    with pytest.raises(ManifestError, match="engine.sha256 is missing"):
        load_manifest(bundle)
    reseal_bundle(bundle)
    open(os.path.join(bundle, "model.engine"), "wb").write(b"swapped")
    with pytest.raises(ManifestError, match="model.engine does not match the sha256 in engine.sha256"):
        load_manifest(bundle)


def test_cli_opt_out_and_reseal(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    cv2.imwrite(str(tmp_path / "a.png"), frame(True))
    edit_manifest(bundle, lambda m: m["thresholds"].update(bottle={"image": 9.0, "pixel": 9.0}), seal=False)
    args = [bundle, str(tmp_path / "a.png"), "--class-name", "bottle", "--out-dir", str(tmp_path / "o")]
    assert runtime_main(args) == 1 and "does not match its manifest_sha256" in capsys.readouterr().err
    assert runtime_main([*args, "--allow-modified-bundle"]) == 0
    assert "WARNING: bundle" in capsys.readouterr().err  # loud, one line, on stderr
    assert reseal_main([bundle, "--check"]) == 1 and "NOT verified" in capsys.readouterr().out
    assert reseal_main([bundle]) == 0 and "re-sealed" in capsys.readouterr().out
    assert reseal_main([bundle, "--check"]) == 0 and runtime_main(args) == 0


def test_verdict_writer_neutralises_formulas_but_keeps_numbers(tmp_path):
    path = tmp_path / "v.csv"
    with VerdictWriter(str(path)) as writer:
        writer.write(Result("=SUM(1,2)+cmd.png", "@cls", score=-0.5, label=False))
        writer.write(Result("-2+3", "+x", error="\tboom"))
        writer.write(Result("-0.25", "b", score=0.5, label=True))
    rows = list(csv.DictReader(path.open()))
    assert [r["path"] for r in rows] == ["'=SUM(1,2)+cmd.png", "'-2+3", "-0.25"]
    assert rows[0]["class"] == "'@cls" and rows[0]["score"] == "-0.5" and rows[1]["class"] == "'+x"
    assert rows[1]["error"] == "'\tboom"


def test_run_bundle_csv_with_a_formula_file_name(tmp_path, monkeypatch):
    bundle = make_bundle(tmp_path / "b", classes=["bottle"])
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("=SUM(1,2)+cmd.png", frame(True))
    summary = run_bundle(bundle, "=SUM(1,2)+cmd.png", "out", log=io.StringIO())
    row = next(csv.DictReader(open(summary["verdicts"])))
    assert row["path"] == "'=SUM(1,2)+cmd.png" and row["label"] == "DEFECT"
    assert os.listdir("out/overlays") == ["=SUM(1,2)+cmd.png"]
