"""The base of gen3d's file-list datasets: mmengine's ``BaseDataset`` with a serialisation that skips ``gc.collect``.

mmengine's ``BaseDataset._serialize_data`` (run by ``full_init`` when ``serialize_data=True``, the default) packs the
records into one byte buffer that dataloader workers share, then calls ``gc.collect()`` to free the record list.
The records are plain dicts without reference cycles, so clearing the list frees them already; the full collection
only walks the whole heap, which with torch, timm and a built model loaded costs 0.3-3 s per dataset, paid for the
train, validation and test sets of every run. This class serialises the same buffer and skips the collection
(and serialises an empty record list to empty buffers instead of failing in ``np.concatenate``).
"""

import pickle

import numpy as np
from mmengine.dataset import BaseDataset

__all__ = ["SerializedDataset"]


class SerializedDataset(BaseDataset):
    """``BaseDataset`` whose records are serialised into one shared buffer without a full garbage collection."""

    def _serialize_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Pack ``self.data_list`` into ``(bytes (N_bytes,) uint8, end offsets (N,) int64)`` and clear it."""
        if not self.data_list:
            return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
        buffers = [np.frombuffer(pickle.dumps(rec, protocol=4), dtype=np.uint8) for rec in self.data_list]
        address = np.cumsum(np.asarray([len(b) for b in buffers], dtype=np.int64))
        self.data_list.clear()
        return np.concatenate(buffers), address
