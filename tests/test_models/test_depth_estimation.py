"""gen3d.models.depth_estimation (a depth estimator from an ONNX file) and tools/dataset_converters/estimate_depth.py.

The ONNX graphs are built here with onnx.helper (a 1x1 conv, optionally a 2x2 average pool), so the real
onnxruntime path runs in milliseconds.
"""

import importlib.util
import os
import sys

import cv2
import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from gen3d.datasets.rgbd import RGBDDataset
from gen3d.datasets.transforms.rgbd_transforms import read_rgbd_depth
from gen3d.models.depth_estimation import IMAGENET_MEAN, IMAGENET_STD, DepthEstimator, normalise_depth
from tests.conftest import REPO_ROOT

TOOL = REPO_ROOT / "tools" / "dataset_converters" / "estimate_depth.py"


def make_onnx(path, weights=(1.0, 0.0, 0.0), bias=0.0, pool=False, shape=("N", 3, "H", "W")) -> str:
    """``out = conv1x1(x; weights) + bias`` (then a 2x2 average pool): (N, 3, H, W) -> (N, 1, H', W')."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [float(v) for v in weights])
    b = helper.make_tensor("b", TensorProto.FLOAT, [1], [float(bias)])
    nodes = [helper.make_node("Conv", ["image", "w", "b"], ["conv" if pool else "depth"])]
    if pool:
        nodes.append(helper.make_node("AveragePool", ["conv"], ["depth"], kernel_shape=[2, 2], strides=[2, 2]))
    graph = helper.make_graph(nodes, "tiny_depth", [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("depth", TensorProto.FLOAT, None)], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def _expected(images: torch.Tensor, weights=(1.0, 0.0, 0.0), bias=0.0, pool=False, mean=IMAGENET_MEAN,
              std=IMAGENET_STD) -> torch.Tensor:
    x = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    out = (x * torch.tensor(weights).view(1, 3, 1, 1)).sum(1, keepdim=True) + bias
    if pool:
        out = F.interpolate(F.avg_pool2d(out, 2), size=images.shape[-2:], mode="bilinear", align_corners=False)
    return out


def _images(n=2, h=10, w=14, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_onnx_output_is_resized_back_to_the_image(tmp_path):
    est = DepthEstimator(make_onnx(tmp_path / "pool.onnx", pool=True))
    images = _images()
    out = est(images)
    assert out.shape == (2, 1, 10, 14) and out.dtype == torch.float32
    torch.testing.assert_close(out, _expected(images, pool=True), atol=1e-5, rtol=1e-5)
    # float [-1, 1] input is the same image
    torch.testing.assert_close(est(images.float() / 127.5 - 1), out, atol=1e-5, rtol=1e-5)
    # a requested input size: resized in, and the output still comes back at 10 x 14
    assert DepthEstimator(make_onnx(tmp_path / "p2.onnx", pool=True), input_size=8)(images).shape == (2, 1, 10, 14)


def test_static_onnx_input_sets_the_size_and_batch(tmp_path):
    path = make_onnx(tmp_path / "static.onnx", shape=(1, 3, 8, 8))
    est = DepthEstimator(path)
    assert est.input_size == (8, 8) and est.static_batch == 1
    images = _images(3, 12, 12)
    x = F.interpolate(images.float() / 255, size=(8, 8), mode="bilinear", align_corners=False)
    ref = F.interpolate((x[:, :1] - IMAGENET_MEAN[0]) / IMAGENET_STD[0], size=(12, 12), mode="bilinear",
                        align_corners=False)
    torch.testing.assert_close(est(images), ref, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="static.onnx"):
        DepthEstimator(path, input_size=16)


def test_output_kinds_and_normalisation(tmp_path):
    path = make_onnx(tmp_path / "m.onnx", bias=3.0)
    images = _images()
    depth = DepthEstimator(path, mean=(0, 0, 0), std=(1, 1, 1))(images)
    neg = DepthEstimator(path, output_kind="disparity", mean=(0, 0, 0), std=(1, 1, 1))(images)
    rec = DepthEstimator(path, output_kind="disparity", disparity_to_depth="reciprocal", mean=(0, 0, 0),
                         std=(1, 1, 1))(images)
    torch.testing.assert_close(neg, -depth)
    torch.testing.assert_close(rec, 1 / depth)
    with pytest.raises(ValueError, match="output_kind"):
        DepthEstimator(path, output_kind="inverse")

    n = normalise_depth(depth)
    assert torch.allclose(n.flatten(1).amin(1), torch.tensor(-1.0)) and torch.allclose(n.flatten(1).amax(1),
                                                                                         torch.tensor(1.0))
    order = depth.flatten(1).argsort(1)
    assert (n.flatten(1).gather(1, order).diff(dim=1) >= -1e-6).all()  # order (larger = farther) kept
    lo, hi = depth.flatten(1).amin(1), depth.flatten(1).amax(1)
    leres = normalise_depth(depth, "leres")
    torch.testing.assert_close(leres.flatten(1).amax(1), torch.ones(2))
    torch.testing.assert_close(leres.flatten(1).amin(1), 2 * 0.01 / (hi - lo + 0.01) - 1)
    assert torch.equal(normalise_depth(torch.full((1, 1, 3, 3), 2.0)), torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="mode"):
        normalise_depth(depth, "max")


def test_missing_and_malformed_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.onnx"):
        DepthEstimator(str(tmp_path / "nowhere.onnx"))
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ValueError, match="broken.onnx"):
        DepthEstimator(str(bad))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "flat",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "flat.onnx"))
    with pytest.raises(ValueError, match=r"flat.onnx must take one float \(N, 3, H, W\) input"):
        DepthEstimator(str(tmp_path / "flat.onnx"))
    with pytest.raises(FileNotFoundError, match="hubconf.py"):
        DepthEstimator(f"hub:{tmp_path / 'no_repo'}:leres")
    with pytest.raises(ValueError, match="hub:<dir>:<entry>"):
        DepthEstimator("hub:leres")


def test_local_hub_folder_with_a_weights_file(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "hubconf.py").write_text("import torch\n\ndef tiny(**kw):\n    return torch.nn.Conv2d(3, 1, 1)\n")
    net = torch.nn.Conv2d(3, 1, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))
        net.bias.fill_(0.5)
    torch.save({"depth_model": {f"module.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "w.pth")
    est = DepthEstimator(f"hub:{repo}:tiny", weights=str(tmp_path / "w.pth"))
    images = _images()
    torch.testing.assert_close(est(images), _expected(images, bias=0.5), atol=1e-5, rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        DepthEstimator(f"hub:{repo}:tiny", weights=str(tmp_path / "absent.pth"))


def _tool():
    spec = importlib.util.spec_from_file_location("estimate_depth", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _write_rgb_dir(root, sizes=((12, 16), (12, 16), (10, 10))):
    root.mkdir()
    images = {}
    for i, (h, w) in enumerate(sizes):
        img = _images(1, h, w, seed=i)[0].permute(1, 2, 0).numpy()
        cv2.imwrite(str(root / f"im{i}.png"), img[..., ::-1])
        images[f"im{i}"] = torch.from_numpy(img).permute(2, 0, 1)
    return images


def test_tool_writes_an_official_rgbd_folder(tmp_path):
    images = _write_rgb_dir(tmp_path / "rgb_in")
    model = make_onnx(tmp_path / "m.onnx", pool=True)
    out = tmp_path / "out"
    _tool().main([str(tmp_path / "rgb_in"), str(out), "--model", model, "--batch-size", "2"])
    assert sorted(os.listdir(out / "depth")) == ["im0.png", "im1.png", "im2.png"]
    for stem in images:
        assert (out / "rgb" / f"{stem}.png").read_bytes() == (tmp_path / "rgb_in" / f"{stem}.png").read_bytes()
        assert cv2.imread(str(out / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    ds = RGBDDataset(data_root=str(out), depth_encoding="depthgan",
                     pipeline=[dict(type="LoadGANImage"), dict(type="LoadRGBDDepth"), dict(type="PackRGBDInputs")])
    assert len(ds) == 3
    sample = ds[2]
    assert sample["data_samples"]["depth"].shape == (1, 10, 10)
    for stem, img in images.items():
        ref = normalise_depth(_expected(img[None], pool=True), "leres")[0, 0].numpy()
        got = read_rgbd_depth(str(out / "depth" / f"{stem}.png"), "depthgan")
        np.testing.assert_allclose(got, ref, atol=1.0 / 30000 + 1e-6)


def test_tool_refuses_names_and_links_that_leave_out_root(tmp_path):
    _write_rgb_dir(tmp_path / "rgb_in")
    model = make_onnx(tmp_path / "m.onnx")
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"keep")
    out = tmp_path / "out"
    (out / "depth").mkdir(parents=True)
    os.symlink(outside, out / "depth" / "im1.png")
    with pytest.raises(SystemExit, match="outside"):
        _tool().main([str(tmp_path / "rgb_in"), str(out), "--model", model])
    assert outside.read_bytes() == b"keep" and not (out / "rgb").exists()  # refused before writing anything

    with pytest.raises(SystemExit, match="absent.onnx"):
        _tool().main([str(tmp_path / "rgb_in"), str(tmp_path / "out3"), "--model", str(tmp_path / "absent.onnx")])
    (tmp_path / "rgb_in" / "a\\..\\evil.png").write_bytes((tmp_path / "rgb_in" / "im0.png").read_bytes())
    with pytest.raises(SystemExit, match="not a plain file name"):
        _tool().main([str(tmp_path / "rgb_in"), str(tmp_path / "out2"), "--model", model])
