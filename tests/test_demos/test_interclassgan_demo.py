"""Smoke test of the InterClassGAN demo (a few iterations, tiny sizes, cheap features instead of Lite0) and its
tools."""

import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch

from gen3d.demos import interclassgan_demo as demo
from gen3d.models.editing.interclass import evaluation
from gen3d.utils.repo_paths import REPO_ROOT


def _cheap_features(x):
    return torch.nn.functional.adaptive_avg_pool2d(x.float(), 2).flatten(1)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "AWARENESS_SAMPLES", 4)
    mp.setattr(demo, "EVAL_PER_CLASS", 3)
    mp.setattr(demo, "NUM_PICTURE", 2)
    mp.setattr(evaluation, "lite0_extractor", lambda: _cheap_features)
    work = str(tmp_path_factory.mktemp("interclass"))
    try:
        res = demo.run_interclass_demo(work, iters=2, num_per_class=4, threads=1, seed=0)
    finally:
        mp.undo()
    return work, res


def test_demo_results_pictures_and_table(demo_run):
    work, res = demo_run
    json.dumps(res)  # JSON-serialisable
    assert res["iters"] == 2 and res["definition"] == "grad_x_activation"
    ccbn = [f"block{b}.act{j}" for b in range(3) for j in (1, 2)]  # 32 px: three blocks, CCBN + ReLU each twice
    assert res["layers"] == ccbn
    for key in ("trained", "trained_mean_activation", "untrained"):  # the paper's layers by default
        assert list(res[key]["aware_fraction_per_layer"]) == ccbn, key
    assert list(res["trained_block_outputs"]["aware_fraction_per_layer"]) == ["fc", "block0", "block1", "block2"]
    for key in ("trained", "trained_mean_activation", "trained_block_outputs", "untrained"):
        assert set(res[key]["aware_fraction"]) == set(res["classes"])
        assert set(res[key]["jaccard_pairs"]) == {"similar", "dissimilar", "other"}
        assert np.allclose(np.diag(res[key]["jaccard"]), 1)
    pc = res["category_eval"]["per_class"]
    assert set(pc) == set(res["classes"]) and all(r["num_real"] == 3 for r in pc.values())
    for name in ("samples", "heatmap", "edit", "hybrids", "segmentation"):
        assert osp.isfile(res["pictures"][name]), name
    assert osp.isfile(res["awareness_file"]) and osp.isfile(res["checkpoint"])
    assert {"data", "train", "awareness", "category_eval", "all"} <= set(res["seconds"])
    table = demo.format_interclass_table(res)
    assert "untrained control" in table and "stripes" in table and "fd_lite0" in table
    assert "block outputs" in table and "block0.act1" in table


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, osp.join(str(REPO_ROOT), "tools", "editing", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tools_awareness_and_apply(demo_run, tmp_path, capsys):
    work, res = demo_run
    out = str(tmp_path / "aw")
    npz = _tool("channel_awareness").main([res["checkpoint"], "--out", out, "--num-samples", "4",
                                            "--layers", "block0", "block1"])
    assert "diamond" in capsys.readouterr().out and osp.isfile(npz)
    meta = json.loads(open(out + ".json").read())
    assert meta["layers"] == ["block0", "block1"] and meta["classes"][0] == "diamond"
    apply = _tool("interclass_apply")
    for cmd in (["edit", "--class", "disc", "--layer", "block0", "--channel", "3"],
                ["hybrid", "--class", "disc", "--class-b", "stripes"],
                ["segment", "--class", "square", "--clusters", "3"]):
        png = str(tmp_path / f"{cmd[0]}.png")
        assert apply.main([cmd[0], res["checkpoint"], npz, "--out", png, "--num", "2", *cmd[1:]]) == png
        assert osp.isfile(png)
    with pytest.raises(SystemExit, match="cat"):
        apply.main(["edit", res["checkpoint"], npz, "--out", str(tmp_path / "x.png"), "--class", "cat",
                    "--layer", "block0"])
    with pytest.raises(SystemExit, match="block9"):
        apply.main(["edit", res["checkpoint"], npz, "--out", str(tmp_path / "x.png"), "--class", "disc",
                    "--layer", "block9"])
