"""Engine hooks and wrappers: RNG continuity, message-hub data, thresholds, CPU bf16 autocast."""

import random

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.optim import OptimWrapper

from gen3d.engine.hooks import AnomalyThresholdHook, get_rng_state, set_rng_state, thresholds_from_metrics
from gen3d.engine.hooks.checkpoint_meta_hook import history_buffers_from_data, history_buffers_to_data
from gen3d.engine.optim_wrappers import CPUAutocastOptimWrapper
from gen3d.registry import HOOKS, METRICS, MODELS
from gen3d.utils.checkpoint import load_local_checkpoint, save_checkpoint_file
from tests.conftest import TOY_CONFIG
from tests.helpers.toy import ToyModel


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


def test_threshold_hook_warns_when_a_loaded_checkpoint_has_no_thresholds(monkeypatch):
    import gen3d.engine.hooks.anomaly_threshold_hook as mod

    said = []
    monkeypatch.setattr(mod, "print_log", lambda msg, **kw: said.append(msg))
    runner = _Runner()
    AnomalyThresholdHook().after_load_checkpoint(runner, {"meta": {"thresholds": {}, "last_val_thresholds": {}}})
    assert runner.model.thresholds == {} and "no decision thresholds" in said[0]


# --- Thresholds in checkpoints written before validation, through the real Runner and loops ---------------------

@MODELS.register_module(force=True)
class ThresholdToyModel(ToyModel):
    """ToyModel whose predictions carry the logits, so that a metric can fit weight-dependent 'thresholds'."""

    def __init__(self, p: float = 0.3) -> None:
        super().__init__(p)
        self.thresholds = {}  # as UniAD

    def forward(self, inputs, labels=None, mode="tensor"):
        if mode == "predict":
            return list(zip(self.fc(self.conv(inputs).relu().mean((2, 3))), labels))
        return super().forward(inputs, labels, mode)


@METRICS.register_module(force=True)
class ToyThresholdMetric(BaseMetric):
    """``threshold/<neg|pos>/<image|pixel>``: statistics of the logits, different after every training step."""

    def process(self, data_batch, data_samples):
        self.results.extend(logits.detach() for logits, _ in data_samples)

    def compute_metrics(self, results):
        logits = torch.stack(results)
        out = {"score": float(logits.std())}
        for c, name in enumerate(("neg", "pos")):
            out[f"threshold/{name}/image"] = float(logits[:, c].mean())
            out[f"threshold/{name}/pixel"] = float(logits[:, c].max())
        return out


@HOOKS.register_module(force=True)
class ThresholdRecorder(Hook):
    """Records the thresholds each validation fitted, keyed by the train loop's epoch and iteration."""

    priority = "LOW"

    def __init__(self):
        self.by_epoch, self.by_iter, self.decided_with = {}, {}, {}

    def before_val_epoch(self, runner):  # the thresholds the model decides with during this validation
        self.decided_with[runner.epoch] = {k: dict(v) for k, v in runner.model.thresholds.items()}

    def after_val_epoch(self, runner, metrics=None):
        self.by_epoch[runner.epoch] = self.by_iter[runner.iter] = thresholds_from_metrics(metrics)


def _toy_runner(work_dir, data_root, name, **overrides):
    from mmengine.config import Config

    from gen3d.engine import Runner

    cfg = Config.fromfile(str(TOY_CONFIG))
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), experiment_name=f"{name}_{work_dir.name}", model=dict(type="ThresholdToyModel"),
        val_evaluator=dict(type="ToyThresholdMetric"), test_evaluator=dict(type="ToyThresholdMetric"),
        train_dataloader=dict(dataset=dict(data_root=str(data_root))),
        val_dataloader=dict(dataset=dict(data_root=str(data_root))),
        test_dataloader=dict(dataset=dict(data_root=str(data_root))),
        custom_hooks=[dict(type="AnomalyThresholdHook"), dict(type="ThresholdRecorder")]))
    cfg.merge_from_dict(overrides)
    return Runner.from_cfg(cfg)


def _meta(path):
    return load_local_checkpoint(path)["meta"]


def _recorder(runner):
    return next(h for h in runner.hooks if isinstance(h, ThresholdRecorder))


@pytest.mark.parametrize("save_best", [None, "score"])
def test_epoch_checkpoints_carry_their_own_validation_thresholds(tmp_path, toy_data_root, save_best):
    # CheckpointHook writes epoch_N.pth before epoch N is validated: the file must still end up with epoch N's
    # thresholds (and with none where epoch N was not validated), with or without a best checkpoint (whose
    # update makes mmengine save epoch_N.pth again after validation, but only when the score improved).
    runner = _toy_runner(tmp_path, toy_data_root, "epochs", train_cfg=dict(max_epochs=4, val_interval=2),
                         default_hooks=dict(checkpoint=dict(save_best=save_best, rule="less")))
    runner.train()
    fitted = _recorder(runner).by_epoch
    assert sorted(fitted) == [2, 4] and fitted[2] != fitted[4]
    for epoch in (2, 4):
        meta = _meta(tmp_path / f"epoch_{epoch}.pth")
        assert meta["thresholds"] == fitted[epoch], f"epoch_{epoch}.pth holds another validation's thresholds"
        assert meta["last_val_thresholds"] == fitted[epoch]
        assert meta["epoch"] == epoch
    for epoch in (1, 3):  # not validated: no claim, but resuming keeps the model's (earlier) thresholds
        meta = _meta(tmp_path / f"epoch_{epoch}.pth")
        assert meta["thresholds"] == {}
        assert meta["last_val_thresholds"] == fitted.get(epoch - 1, {})
    for best in tmp_path.glob("best_*.pth"):
        assert _meta(best)["thresholds"] == fitted[_meta(best)["epoch"]]


def test_iteration_checkpoints_carry_their_own_validation_thresholds(tmp_path, toy_data_root):
    runner = _toy_runner(
        tmp_path, toy_data_root, "iters", train_cfg=dict(_delete_=True, type="IterBasedTrainLoop", max_iters=8,
                                                         val_interval=4),
        param_scheduler=[], log_processor=dict(by_epoch=False),
        default_hooks=dict(checkpoint=dict(by_epoch=False, interval=2)))
    runner.train()
    fitted = _recorder(runner).by_iter
    assert sorted(fitted) == [4, 8] and fitted[4] != fitted[8]
    for it in (2, 4, 6, 8):
        assert _meta(tmp_path / f"iter_{it}.pth")["thresholds"] == fitted.get(it, {}), f"iter_{it}.pth"


@pytest.mark.parametrize("val_interval, resume_at", [(1, 2), (2, 3)])
def test_resume_continues_with_the_thresholds_of_the_straight_run(tmp_path, toy_data_root, val_interval, resume_at):
    # From a validated checkpoint (epoch 2 of 4) and from one saved between validations (epoch 3): the resumed run
    # decides with the same thresholds during its next validation and ends with the same checkpoint.
    schedule = dict(train_cfg=dict(max_epochs=4, val_interval=val_interval))
    straight = _toy_runner(tmp_path / "straight", toy_data_root, "straight", **schedule)
    straight.train()
    ref = _recorder(straight)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    ckpt = resumed / f"epoch_{resume_at}.pth"
    ckpt.write_bytes((tmp_path / "straight" / ckpt.name).read_bytes())
    runner = _toy_runner(resumed, toy_data_root, "resumed", resume=True, load_from=str(ckpt), **schedule)
    runner.train()
    rec = _recorder(runner)
    assert rec.by_epoch == {e: t for e, t in ref.by_epoch.items() if e > resume_at}
    assert rec.decided_with == {e: t for e, t in ref.decided_with.items() if e > resume_at}
    assert rec.decided_with[4] == ref.by_epoch[4 - val_interval]
    a, b = (load_local_checkpoint(d / "epoch_4.pth") for d in (tmp_path / "straight", resumed))
    assert a["meta"]["thresholds"] == b["meta"]["thresholds"] == ref.by_epoch[4]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


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


def test_visualization_hook_keeps_coco_category_names_inside_show_dir(tmp_path):
    """COCO category names are data: a name like ``../../..``, ``..\\..`` or an absolute path never leads out."""
    import json
    from types import SimpleNamespace

    from gen3d.datasets import CocoAnomalyDataset
    from gen3d.engine.hooks.anomaly_visualization_hook import AnomalyVisualizationHook
    from gen3d.structures import AnomalyDataSample
    from tests.helpers.anomaly_data import make_coco_tree

    root = make_coco_tree(tmp_path / "data")
    outside = tmp_path / "outside_abs"
    names = {"bottle": ["../../..", "..\\.."], "carpet": [str(outside), "CON"]}
    for cls_name in ("bottle", "carpet"):
        path = root / cls_name / "test" / "annotations.json"
        coco = json.loads(path.read_text())
        for cat, name in zip(coco["categories"], names[cls_name]):
            cat["name"] = name
        path.write_text(json.dumps(coco))
    records = [r for r in (CocoAnomalyDataset(str(root), split="test").get_data_info(i) for i in range(12))
               if r["gt_label"] == 1]
    assert {r["defect_type"] for r in records} >= {*names["bottle"], *names["carpet"]}  # kept as they are
    outputs = []
    for r in records:
        sample = AnomalyDataSample(metainfo={k: r[k] for k in ("img_path", "cls_name", "defect_type")})
        sample.anomaly_map, sample.pred_score = torch.zeros(8, 8), torch.tensor(0.3)
        outputs.append(sample)
    show = tmp_path / "a" / "b" / "show"
    runner = SimpleNamespace(model=SimpleNamespace(thresholds={}))
    AnomalyVisualizationHook(draw=True, show_dir=str(show)).after_test_iter(runner, 0, None, outputs)
    written = sorted(p for p in tmp_path.rglob("*.png") if root not in p.parents)
    assert len(written) == len(records) and all(show in p.parents for p in written), written
    assert not outside.exists()
    assert all(".." not in p.relative_to(show).parts for p in written)
