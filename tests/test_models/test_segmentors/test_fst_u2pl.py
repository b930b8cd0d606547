"""FST-D/FST-W around the real U2PL: what one iteration enqueues into U2PL's memory queues."""

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn

from gen3d.models.segmentors import U2PL
from gen3d.models.segmentors.fst import FST
from gen3d.models.segmentors.state_utils import restore_buffer_refs, snapshot_buffer_refs

from .test_teacher_student import NUM_CLASSES, make_batch, make_model

K, SIZE = 3, 32


def _setup(monkeypatch: pytest.MonkeyPatch, **kwargs) -> tuple[FST, OptimWrapper, list]:
    """FST(U2PL) after one plain step (t = 0, m = 0) that filled the queues; enqueue calls are recorded after it."""
    u2pl = make_model(U2PL, sup_only_epochs=0, max_epochs=10, cutmix_prob=1.0,
                      contrastive=dict(num_queries=4, num_negatives=4, queue_size=10**6, queue_size_bg=10**6))
    fst = FST(u2pl, k=K, ema_alpha=0.99, **kwargs).train()
    ow = OptimWrapper(torch.optim.SGD(u2pl.student.parameters(), lr=0.01, momentum=0.9))
    fst.train_step_at(make_batch(size=SIZE, seed=1), ow, 0)
    loss, calls, enqueue = u2pl.contrastive, [], u2pl.contrastive.enqueue

    def recording_enqueue(c: int, keys: torch.Tensor) -> None:  # (class, queue at entry, keys pushed)
        calls.append((c, loss.queue(c), keys.detach().clone()))
        enqueue(c, keys)

    monkeypatch.setattr(loss, "enqueue", recording_enqueue)
    return fst, ow, calls


def _passes(calls: list, n: int) -> list[list]:
    assert [c for c, _, _ in calls] == list(range(NUM_CLASSES)) * n  # one enqueue per class and pass
    return [calls[i * NUM_CLASSES:(i + 1) * NUM_CLASSES] for i in range(n)]


@pytest.mark.parametrize("mode", ["D", "W"])
def test_one_fst_step_enqueues_the_real_steps_negatives_only(monkeypatch, mode):
    fst, ow, calls = _setup(monkeypatch, mode=mode, same_batch=mode == "D")
    loss = fst.method.contrastive
    before = [loss.queue(c) for c in range(NUM_CLASSES)]
    assert sum(q.shape[0] for q in before) > 0
    batch = make_batch(size=SIZE, seed=2)
    if mode == "W":
        batch["future"] = [make_batch(size=SIZE, seed=10 + i) for i in range(K)]
    fst.train_step_at(batch, ow, 1)
    passes = _passes(calls, K + 1)
    assert sum(keys.shape[0] for p in passes[:-1] for _, _, keys in p) > 0  # the virtual passes do push
    for p in passes:  # every pass, virtual or real, starts from the queues of the iteration's start
        assert all(queue is before[c] for c, queue, _ in p)
    for c, _, keys in passes[-1]:  # afterwards: the real step's negatives in front of the old queue, nothing else
        assert torch.equal(loss.queue(c), torch.cat([keys, before[c]]))


def test_official_code_path_enqueues_on_every_pass(monkeypatch):
    fst, ow, calls = _setup(monkeypatch, restore_method_buffers=False)
    loss = fst.method.contrastive
    before = [loss.queue(c) for c in range(NUM_CLASSES)]
    fst.train_step_at(make_batch(size=SIZE, seed=2), ow, 1)
    passes = _passes(calls, K + 1)
    for c in range(NUM_CLASSES):  # semi_seg/train_semi.py: K + 1 pushes per iteration, newest first
        pushed = [p[c][2] for p in reversed(passes)]
        assert torch.equal(loss.queue(c), torch.cat([*pushed, before[c]]))


def test_buffer_refs_skip_student_and_teacher_and_refuse_in_place_changes():
    u2pl = make_model(U2PL, contrastive=dict(queue_size=8, queue_size_bg=8))
    refs = snapshot_buffer_refs(u2pl, exclude=(u2pl.student, u2pl.teacher))
    assert sorted(name for _, name, _, _ in refs) == [f"queue_{c}" for c in range(NUM_CLASSES)]
    loss = u2pl.contrastive
    old = loss.queue(1)
    loss.enqueue(1, torch.ones(3, loss.feat_dim))
    restore_buffer_refs(refs)
    assert loss.queue(1) is old and loss.queue(1).shape[0] == 0
    holder = nn.Module()
    holder.register_buffer("b", torch.zeros(2))
    refs = snapshot_buffer_refs(holder)
    holder.b.add_(1.0)
    with pytest.raises(RuntimeError, match="in place"):
        restore_buffer_refs(refs)
