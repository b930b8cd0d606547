"""mmengine's ``CheckpointHook`` with the outdated checkpoint removed only after the new one is on disk.

mmengine (0.10) deletes the oldest kept checkpoint *before* writing the new one, so with ``max_keep_ckpts=1`` (the
demos) a process killed while writing leaves no checkpoint at all, and the atomic writer cannot help. Here the
bookkeeping is unchanged (``keep_ckpt_ids`` is updated before saving, so the saved message hub is the same as
mmengine's), but the file is removed after the save, and ``last_checkpoint`` is written atomically.
"""

from __future__ import annotations

import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook

from gen3d.registry import HOOKS
from gen3d.utils.checkpoint import atomic_write_bytes


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that never removes the last good checkpoint before the next one exists (same arguments)."""

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:  # noqa: ANN001
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        runner.save_checkpoint(self.out_dir, ckpt_filename, self.file_client_args, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                               backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(str(self.last_ckpt).encode(), osp.join(runner.work_dir, "last_checkpoint"))
        if outdated is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by DeepSpeed are folders
                self.file_backend.rmtree(path)
