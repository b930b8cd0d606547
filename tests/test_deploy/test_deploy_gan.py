"""Generator export: GeneratorEnd2End graph, truncation input default, parity gate, tools/deploy.py bundle."""

import numpy as np
import onnx
import pytest
import torch

from gen3d.apis.gan_inference import load_generator
from gen3d.deploy import ParityError, ort_runner
from gen3d.deploy.gan_wrapper import GeneratorEnd2End, example_feeds, reference_images
from gen3d.deploy.onnx_export import export_onnx
from gen3d.deploy.parity import check_gan_parity
from gen3d.runtime.manifest import HASH_KEY, load_manifest, manifest_digest
from tests.conftest import REPO_ROOT, run_tool
from tests.helpers.gan import make_tiny_gan_checkpoint

DEPLOY = str(REPO_ROOT / "deploy" / "gan_onnxruntime_fp32_dynamic.py")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_gan_checkpoint(tmp_path_factory.mktemp("gan") / "tiny.pth", c_dim=2)


def test_tool_writes_a_gated_bundle(ckpt, tmp_path):
    out = run_tool("deploy.py", DEPLOY, "-", str(ckpt), "--work-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-4000:]
    assert "parity fp32" in out.stdout
    manifest = load_manifest(str(tmp_path))  # verified whole: manifest_sha256 and onnx.sha256
    assert manifest[HASH_KEY] == manifest_digest(manifest) and manifest["onnx"]["sha256"]
    assert manifest["task"] == "generation" and manifest["model"]["exported"] == "generator_ema"
    assert [i["name"] for i in manifest["inputs"]] == ["z", "c", "truncation_psi"]
    assert manifest["outputs"][0]["shape"] == ["batch", 16, 16, 3]
    parity = manifest["parity"]
    assert parity["max_abs_diff"] <= 1 and set(parity["per_psi"]) == {"psi=1", "psi=0.7"}
    # the default psi lives in the manifest (a real graph input, so TensorRT cannot fold it): the backend fills it
    from gen3d.runtime.backend import make_backend

    gen = load_generator(str(ckpt))
    feeds = example_feeds(gen, 3, 1.0)
    with pytest.raises(Exception, match="truncation_psi"):
        ort_runner(str(tmp_path / "model.onnx"))({"z": feeds["z"], "c": feeds["c"]})
    img = make_backend("onnxruntime", str(tmp_path), manifest).run({"z": feeds["z"], "c": feeds["c"]})["image"]
    assert img.dtype == np.uint8 and img.shape == (3, 16, 16, 3)
    assert np.abs(img.astype(int) - reference_images(gen, feeds, "uint8").astype(int)).max() <= 1


def test_float_output_and_cutoff(ckpt, tmp_path):
    gen = load_generator(str(ckpt))
    wrapper = GeneratorEnd2End(gen, "float", truncation_cutoff=2).eval()
    feeds = example_feeds(gen, 4, 0.5)
    args = tuple(torch.from_numpy(feeds[n]) for n in wrapper.input_names)
    path = export_onnx(wrapper, args, str(tmp_path / "g.onnx"), wrapper.input_names, ("image",),
                       {n: {0: "batch"} for n in ("z", "c", "image")})
    assert [i.name for i in onnx.load(path).graph.input] == ["z", "c", "truncation_psi"]
    ref = reference_images(gen, feeds, "float", truncation_cutoff=2)
    with torch.no_grad():
        assert np.allclose(wrapper(*args).numpy(), ref, atol=1e-6)  # wrapper truncation == generator's
    result = check_gan_parity(ref, ort_runner(path)(feeds)["image"])
    assert result["max_abs_diff"] <= result["gate"]
    with pytest.raises(ParityError, match="FAILED"):
        check_gan_parity(ref, ref + 0.01)
    with pytest.raises(ParityError, match="shape"):
        check_gan_parity(ref, ref[:2])
