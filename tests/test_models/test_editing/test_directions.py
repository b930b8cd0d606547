import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from gen3d.models.editing.directions import file_sha256, load_directions, save_directions


def sample(tmp_path, **kwargs):
    rng = np.random.RandomState(0)
    dirs = rng.randn(4, 8)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    vals = np.array([4.0, 3.0, 2.0, 1.0])
    path = tmp_path / "eyes.npz"
    args = dict(method="resefa", layers=[4, 5, 6, 7], region=[8, 8, 2, 6], samples=5, seed=4, resolution=16)
    args.update(kwargs)
    save_directions(path, dirs, vals, **args)
    return path, dirs, vals


def test_round_trip_with_metadata_and_checkpoint_hash(tmp_path):
    ckpt = tmp_path / "g.pth"
    ckpt.write_bytes(b"weights" * 1000)
    path, dirs, vals = sample(tmp_path, checkpoint=ckpt, extra={"note": "tiny"})
    loaded = load_directions(path)
    np.testing.assert_array_equal(loaded.directions, dirs)
    np.testing.assert_array_equal(loaded.eigenvalues, vals)
    meta = loaded.metadata
    assert meta["method"] == "resefa" and meta["layers"] == [4, 5, 6, 7]
    assert meta["region"] == {"type": "box", "box": [8, 8, 2, 6]}
    assert (meta["samples"], meta["seed"], meta["resolution"]) == (5, 4, 16)
    assert meta["checkpoint_sha256"] == hashlib.sha256(b"weights" * 1000).hexdigest() == file_sha256(ckpt)
    assert meta["extra"] == {"note": "tiny"} and loaded.region_mask is None
    assert path.name == "eyes.npz" and not (tmp_path / "eyes.npz.npz").exists()


def test_mask_region_and_sefa(tmp_path):
    mask = np.zeros((16, 16), dtype=bool)
    mask[2:5, 3:9] = True
    path, _, _ = sample(tmp_path, region=mask)
    loaded = load_directions(path)
    assert loaded.metadata["region"] == {"type": "mask", "shape": [16, 16]}
    np.testing.assert_array_equal(loaded.region_mask, mask)
    path, _, _ = sample(tmp_path, method="sefa", region=None, layers=None, samples=None, seed=None)
    assert load_directions(path).metadata["region"] is None and load_directions(path).metadata["layers"] is None


def test_save_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="method must be one of"):
        sample(tmp_path, method="ganspace")
    with pytest.raises(ValueError, match="'eigenvalues' must have shape"):
        save_directions(tmp_path / "x.npz", np.ones((3, 8)), np.ones(2), method="sefa", layers=None)


def rewrite(path, **replace):
    """Copy the archive, replacing (or with None: dropping) members; allow_pickle=True to plant objects."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for key, value in replace.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def meta_of(path):
    with np.load(path) as data:
        return json.loads(str(data["metadata"]))


@pytest.mark.parametrize("case,message", [
    (lambda p: rewrite(p, directions=None), r"missing key 'directions'"),
    (lambda p: rewrite(p, metadata=None), r"missing key 'metadata'"),
    (lambda p: rewrite(p, metadata=np.array("{not json")), r"key 'metadata' is not valid JSON"),
    (lambda p: rewrite(p, metadata=np.array([1, 2])), r"key 'metadata' must be a JSON string"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "method": "x"}))), r"'metadata' has method"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "layers": "4-7"}))), r"'metadata' has layers"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({k: v for k, v in meta_of(p).items() if k != "seed"}))),
     r"'metadata' lacks \['seed'\]"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "checkpoint_sha256": "abc"}))),
     r"checkpoint_sha256"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "seed": "4"}))), r"'metadata' has seed"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "region": [1, 2]}))), r"'metadata' has region"),
    (lambda p: rewrite(p, metadata=np.array(json.dumps({**meta_of(p), "region": {"type": "mask", "shape": [4, 4]}}))),
     r"key 'region_mask' is missing"),
    (lambda p: rewrite(p, eigenvalues=np.ones(3)), r"'eigenvalues' must have shape \(4,\)"),
    (lambda p: rewrite(p, directions=np.ones((4, 8), dtype=np.int64)), r"key 'directions' must be floating"),
    (lambda p: rewrite(p, directions=np.full((4, 8), np.nan)), r"must be finite"),
    (lambda p: rewrite(p, region_mask=np.ones((4, 4))), r"key 'region_mask' must be a 2-D bool"),
    (lambda p: rewrite(p, metadata=np.array([{"a": 1}], dtype=object)), r"key 'metadata' is not a plain array"),
    (lambda p: p.write_bytes(b"not a zip file at all"), r"not a readable .npz archive"),
    (lambda p: np.save(open(p, "wb"), np.ones(3)), r"expected an .npz archive"),
])
def test_malformed_files_give_clear_errors(tmp_path, case, message):
    path, _, _ = sample(tmp_path)
    case(path)
    with pytest.raises(ValueError, match=message) as info:
        load_directions(path)
    assert str(path) in str(info.value)


class Planted:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_directions(tmp_path / "absent.npz")


def test_loading_never_unpickles(tmp_path):
    path, _, _ = sample(tmp_path)
    sentinel = tmp_path / "pwned"
    buf = io.BytesIO()
    np.save(buf, np.array([Planted(sentinel)], dtype=object), allow_pickle=True)
    assert not sentinel.exists()
    rewrite_path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewrite_path, "w") as dst:
        for item in src.namelist():
            data = buf.getvalue() if item == "directions.npy" else src.read(item)
            dst.writestr(item, data)
    with pytest.raises(ValueError, match=r"evil.npz: key 'directions' is not a plain array"):
        load_directions(rewrite_path)
    assert not sentinel.exists()
