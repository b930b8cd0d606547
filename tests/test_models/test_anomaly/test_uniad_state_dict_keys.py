"""State-dict keys of a tiny UniAD, recorded once: checkpoints written before a refactor must still load.

``tests/data/uniad_tiny_state_dict_keys.txt`` holds one ``<key> <shape>`` line per entry of
``tiny_uniad().state_dict()``, in order, as written before the UniAD blocks moved from ``gen3d/models/layers/`` to
``gen3d/models/anomaly/``. Moving or renaming modules must not change it; a deliberate change of the architecture
regenerates the file (and needs a checkpoint converter).
"""

import ast
from pathlib import Path

import torch

from .test_uniad import tiny_uniad

RECORD = Path(__file__).resolve().parents[2] / "data" / "uniad_tiny_state_dict_keys.txt"


def _keys_and_shapes() -> list[str]:
    return [f"{k} {tuple(v.shape)}" for k, v in tiny_uniad().state_dict().items()]


def test_state_dict_keys_match_the_record():
    recorded = RECORD.read_text().splitlines()
    assert len(recorded) == 237 and sum(k.startswith("reconstruction.") for k in recorded) == 39
    assert _keys_and_shapes() == recorded


def test_a_checkpoint_of_the_recorded_layout_loads_strictly():
    model = tiny_uniad()
    current = model.state_dict()
    state = {}
    for line in RECORD.read_text().splitlines():
        key, shape = line.split(" ", 1)
        state[key] = torch.zeros(ast.literal_eval(shape), dtype=current[key].dtype)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
