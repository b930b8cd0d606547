"""gen3d's Runner pieces that need no training run: the wrapper check, and the gpu marker's skip."""

import pytest
import torch
from mmengine.model import BaseModel

from gen3d.engine.runner import check_ddp_supports_model


class _PlainStep(BaseModel):
    def forward(self, inputs, data_samples=None, mode="tensor"):
        return inputs


class _OwnStep(_PlainStep):
    def train_step(self, data, optim_wrapper):
        return {}


@pytest.mark.parametrize("wrapper", ["MMDistributedDataParallel", "DistributedDataParallel"])
def test_ddp_that_would_skip_an_own_train_step_is_refused(wrapper):
    with pytest.raises(TypeError, match=f"_OwnStep writes its own train_step, which {wrapper} would bypass"):
        check_ddp_supports_model(_OwnStep(), wrapper)
    check_ddp_supports_model(_PlainStep(), wrapper)  # forward(mode='loss') models are fine with DDP


@pytest.mark.parametrize("wrapper", ["GradSyncDataParallel", "MMSeparateDistributedDataParallel"])
def test_wrappers_that_call_the_own_train_step_are_accepted(wrapper):
    check_ddp_supports_model(_OwnStep(), wrapper)


@pytest.mark.gpu
def test_gpu_marked_tests_run_only_where_cuda_is():
    # tests/conftest.py skips this on CPU machines; on a GPU machine it runs.
    assert torch.cuda.is_available()
    assert (torch.ones(2, device="cuda") * 2).sum().item() == 4


# --- Resume is exact with dataloader workers; resume refuses checkpoints it cannot continue from ----------------------

import random  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402

from gen3d.datasets.transforms import Albu  # noqa: E402
from gen3d.registry import DATASETS  # noqa: E402
from gen3d.utils.checkpoint import (  # noqa: E402
    CheckpointError,
    CorruptCheckpointError,
    ResumeError,
    load_local_checkpoint,
    save_checkpoint_file,
)
from tests.conftest import TOY_CONFIG, run_tool  # noqa: E402
from tests.helpers.toy import ToyDataset  # noqa: E402


@DATASETS.register_module(force=True)
class AugToyDataset(ToyDataset):
    """ToyDataset with random augmentation from every source a pipeline draws from.

    albumentations' own generators (a flip and a brightness change through gen3d's ``Albu``), torch's, numpy's and
    python's global generators.
    """

    def __init__(self, data_root: str, size: int = 32, seed: int = 0) -> None:
        super().__init__(data_root, size, seed)
        self.albu = Albu([dict(type="HorizontalFlip", p=0.5), dict(type="RandomBrightnessContrast", p=1.0)])

    def __getitem__(self, i: int) -> dict:
        img = (self.x[i].permute(1, 2, 0).numpy() * 40 + 128).clip(0, 255).astype(np.uint8)
        img = self.albu({"img": img})["img"]
        x = torch.from_numpy(img).permute(2, 0, 1).float() / 40 - 3.2
        x = x + 0.1 * torch.randn_like(x) + 0.1 * float(np.random.rand()) + 0.1 * random.random()
        return dict(inputs=x, labels=self.y[i])


def _toy_runner(work_dir, data_root, num_workers=2, **overrides):
    from mmengine.config import Config

    from gen3d.engine import Runner

    cfg = Config.fromfile(str(TOY_CONFIG))
    # As the shipped configs (configs/_base_/datasets/): two persistent workers.
    loader = dict(num_workers=num_workers, persistent_workers=num_workers > 0,
                  dataset=dict(type="AugToyDataset", data_root=str(data_root)))
    cfg.merge_from_dict(dict(work_dir=str(work_dir), experiment_name=f"{work_dir.parent.name}_{work_dir.name}",
                             train_dataloader=loader, val_dataloader=dict(dataset=dict(data_root=str(data_root))),
                             train_cfg=dict(max_epochs=2)))
    cfg.merge_from_dict(overrides)
    return Runner.from_cfg(cfg)


def _state(path):
    return load_local_checkpoint(path)["state_dict"]


def _assert_equal_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k] - b[k]).abs().max()}"


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """Two epochs of the toy model on augmented data, two persistent workers, without interruption."""
    root = tmp_path_factory.mktemp("resume_exact")
    (root / "data").mkdir()
    _toy_runner(root / "straight", root / "data").train()
    return root


def _resume_dir(straight, tmp_path, name="resumed"):
    work = tmp_path / name
    work.mkdir()
    shutil.copy(straight / "straight" / "epoch_1.pth", work / "epoch_1.pth")
    return work


def test_resume_with_persistent_workers_is_bit_identical(straight, tmp_path):
    # The state a run killed during epoch 2 leaves: epoch_1.pth only. Resumed with the same two persistent workers
    # (which now start at epoch 2), it must end with exactly the uninterrupted run's weights.
    work = _resume_dir(straight, tmp_path)
    _toy_runner(work, straight / "data", resume=True).train()
    _assert_equal_weights(_state(straight / "straight" / "epoch_2.pth"), _state(work / "epoch_2.pth"))
    # Each sample's augmentation comes from its key, not from the worker: without workers the run is the same too.
    _toy_runner(tmp_path / "no_workers", straight / "data", num_workers=0).train()
    reference = _state(straight / "straight" / "epoch_2.pth")
    _assert_equal_weights(reference, _state(tmp_path / "no_workers" / "epoch_2.pth"))
    # The comparison is sensitive: another seed ends elsewhere.
    _toy_runner(tmp_path / "other", straight / "data", num_workers=0, randomness=dict(seed=8)).train()
    assert not torch.equal(_state(straight / "straight" / "epoch_2.pth")["fc.weight"],
                           _state(tmp_path / "other" / "epoch_2.pth")["fc.weight"])


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_auto_resume_skips_a_truncated_newest_checkpoint_with_a_warning(straight, tmp_path):
    work = _resume_dir(straight, tmp_path)
    shutil.copy(straight / "straight" / "epoch_2.pth", work / "epoch_2.pth")
    _truncate(work / "epoch_2.pth")
    (work / "last_checkpoint").write_text(str(work / "epoch_2.pth"))
    runner = _toy_runner(work, straight / "data", num_workers=0, resume=True)
    runner.train()
    assert runner.epoch == 2  # resumed from epoch_1.pth and trained epoch 2 again
    log = "".join(p.read_text() for p in work.rglob("*.log"))
    assert f"--resume: skipping {work / 'epoch_2.pth'}: Cannot read checkpoint" in log
    assert f"trying the previous one, {work / 'epoch_1.pth'}" in log
    _assert_equal_weights(_state(straight / "straight" / "epoch_2.pth"), _state(work / "epoch_2.pth"))


def test_auto_resume_with_every_checkpoint_truncated_names_them(straight, tmp_path):
    work = _resume_dir(straight, tmp_path)
    _truncate(work / "epoch_1.pth")
    with pytest.raises(CorruptCheckpointError, match="no readable checkpoint.*epoch_1.pth"):
        _toy_runner(work, straight / "data", num_workers=0, resume=True).train()


def test_explicit_truncated_resume_is_one_error_naming_the_file(straight, tmp_path):
    work = _resume_dir(straight, tmp_path)
    _truncate(work / "epoch_1.pth")
    with pytest.raises(CorruptCheckpointError, match="epoch_1.pth") as info:
        _toy_runner(work, straight / "data", num_workers=0, resume=True, load_from=str(work / "epoch_1.pth")).train()
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, ValueError)


def _foreign_checkpoint(straight, path, **changes):
    """epoch_1.pth of the toy run, changed as if another model (e.g. a StyleGAN2, named optimizers) had written it."""
    ckpt = load_local_checkpoint(straight / "straight" / "epoch_1.pth")
    ckpt["meta"]["model_type"] = "StyleGAN2"
    ckpt["optimizer"] = {"generator": ckpt["optimizer"], "discriminator": ckpt["optimizer"]}
    for key, value in changes.items():
        ckpt[key] = value
    save_checkpoint_file(ckpt, path)
    return path


def test_resume_from_another_models_checkpoint_is_refused_before_loading(straight, tmp_path):
    path = _foreign_checkpoint(straight, tmp_path / "stylegan2.pth")
    runner = _toy_runner(tmp_path / "w", straight / "data", num_workers=0, resume=True, load_from=str(path))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    with pytest.raises(ResumeError, match=r"stylegan2.pth: it holds a StyleGAN2 .* builds ToyModel"):
        runner.train()
    _assert_equal_weights(before, runner.model.state_dict())  # nothing was loaded
    bare = tmp_path / "bare.pth"
    save_checkpoint_file({"state_dict": before}, bare)
    with pytest.raises(ResumeError, match="bare.pth: it holds no training state"):
        _toy_runner(tmp_path / "w2", straight / "data", num_workers=0, resume=True, load_from=str(bare)).train()


def test_train_tool_prints_one_line_for_a_checkpoint_it_cannot_resume(straight, tmp_path):
    path = _foreign_checkpoint(straight, tmp_path / "stylegan2.pth")
    truncated = _resume_dir(straight, tmp_path) / "epoch_1.pth"
    _truncate(truncated)
    for ckpt, message in ((path, "holds a StyleGAN2 model"), (truncated, "truncated or not a torch file")):
        out = run_tool("train.py", str(TOY_CONFIG), "--work-dir", str(tmp_path / "w"), "--data-root",
                       str(straight / "data"), "--resume", str(ckpt))
        assert out.returncode == 1
        assert out.stderr.startswith("error: ") and str(ckpt) in out.stderr and message in out.stderr, out.stderr
        assert "Traceback" not in out.stderr
