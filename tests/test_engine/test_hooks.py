"""Engine hooks and wrappers: RNG continuity, message-hub data, thresholds, CPU bf16 autocast."""

import random

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.optim import OptimWrapper

from gen3d.engine.hooks import AnomalyThresholdHook, get_rng_state, set_rng_state, thresholds_from_metrics
from gen3d.engine.hooks.checkpoint_meta_hook import history_buffers_from_data, history_buffers_to_data
from gen3d.engine.optim_wrappers import CPUAutocastOptimWrapper
from gen3d.utils.checkpoint import load_local_checkpoint, save_checkpoint_file


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_rng_state_round_trip_through_a_safe_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    _draw()
    save_checkpoint_file({"meta": {"rng_state": get_rng_state()}}, tmp_path / "c.pth")
    expected = _draw()
    _draw()  # move on
    set_rng_state(load_local_checkpoint(tmp_path / "c.pth")["meta"]["rng_state"])
    assert _draw() == expected


def test_history_buffers_stored_as_plain_data(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 4.0):
        buf.update(v)
    hub = {"log_scalars": {"train/loss": buf}, "runtime_info": {}, "resumed_keys": {}}
    history_buffers_to_data(hub)
    save_checkpoint_file({"message_hub": hub}, tmp_path / "c.pth")  # must load with weights_only=True
    loaded = load_local_checkpoint(tmp_path / "c.pth")["message_hub"]
    history_buffers_from_data(loaded)
    restored = loaded["log_scalars"]["train/loss"]
    assert isinstance(restored, HistoryBuffer)
    assert restored.mean() == buf.mean() and restored.current() == 4.0


def test_thresholds_from_metrics():
    metrics = {"threshold/bottle/image": 1.5, "threshold/bottle/pixel": 2.0, "threshold/a/b/image": 3.0,
               "bottle/image_auroc": 0.9}
    assert thresholds_from_metrics(metrics) == {"bottle": {"image": 1.5, "pixel": 2.0}, "a/b": {"image": 3.0}}


class _Runner:
    def __init__(self):
        self.model = torch.nn.Linear(1, 1)
        self.model.thresholds = {}


def test_threshold_hook_validation_to_checkpoint_to_model():
    hook, runner = AnomalyThresholdHook(), _Runner()
    hook.after_val_epoch(runner, {"threshold/bottle/image": 0.7, "threshold/bottle/pixel": 0.4, "x": 1})
    assert runner.model.thresholds == {"bottle": {"image": 0.7, "pixel": 0.4}}
    ckpt = {"meta": {}}
    hook.before_save_checkpoint(runner, ckpt)
    other = _Runner()
    hook.after_load_checkpoint(other, ckpt)
    assert other.model.thresholds == runner.model.thresholds


def test_cpu_autocast_wrapper_runs_bf16_and_keeps_fp32_params():
    model = torch.nn.Linear(8, 4)
    wrapper = CPUAutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    x = torch.randn(3, 8)
    with wrapper.optim_context(model):
        y = model(x)
    assert y.dtype == torch.bfloat16
    before = model.weight.detach().clone()
    wrapper.update_params(y.float().pow(2).mean())
    assert model.weight.dtype == torch.float32 and not torch.equal(before, model.weight)
    with OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1)).optim_context(model):
        assert model(x).dtype == torch.float32


def test_ddp_wrapper_refuses_models_with_their_own_train_step():
    import pytest
    from mmengine.model import BaseModel

    from gen3d.engine.runner import check_ddp_supports_model

    class OwnStep(BaseModel):
        def forward(self, *args, **kwargs):
            return {}

        def train_step(self, data, optim_wrapper):
            return {}

    class PlainStep(BaseModel):
        def forward(self, *args, **kwargs):
            return {}

    with pytest.raises(TypeError, match="OwnStep writes its own train_step"):
        check_ddp_supports_model(OwnStep(), "MMDistributedDataParallel")
    check_ddp_supports_model(PlainStep(), "MMDistributedDataParallel")
    check_ddp_supports_model(OwnStep(), "MyTeacherStudentDDP")
