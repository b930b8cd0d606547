"""gen3d.utils.safe_config: a saved config is read as data (pretty_text round trip) and code in it is refused."""

import pytest
from mmengine.config import Config

from gen3d.utils.config import ConfigError
from gen3d.utils.safe_config import UnsafeConfigError, config_from_text, parse_config_text
from tests.conftest import REPO_ROOT

ALL_CONFIGS = sorted((REPO_ROOT / "configs").rglob("*.py"))


def test_every_shipped_config_round_trips_through_pretty_text():
    assert len(ALL_CONFIGS) > 0, "no config files found: the glob is wrong"
    for path in ALL_CONFIGS:
        original = Config.fromfile(str(path))
        restored = config_from_text(original.pretty_text, str(path))
        assert restored.to_dict() == original.to_dict(), path


def test_pretty_text_edge_values_round_trip():
    cfg = Config(dict(a=dict(neg=-1, tup=(1, -2.5), one=(1,), empty=(), nested=[[1, 2], [3]], keys={"x-y": 1, 3: 4},
                             none=None, flag=True, small=1e-5, inf=float("inf"), ninf=-float("inf"), set_={1, 2},
                             raw=b"ab", quote="it's \"q\"\n", no={}), hooks=[dict(type="X", p=dict())]))
    assert config_from_text(cfg.pretty_text).to_dict() == cfg.to_dict()
    assert parse_config_text("x = nan\n")["x"] != parse_config_text("x = nan\n")["x"]  # a real NaN


@pytest.mark.parametrize("line, what", [
    ("__import__('os').system('true')", "function call"),
    ("x = __import__('os').system('true')", "function call"),
    ("import os", "import"),
    ("from os import system", "import"),
    ("x = os.environ", "Attribute"),
    ("x = open", "name 'open'"),
    ("x = lambda: 0", "Lambda"),
    ("x = f'{y}'", "JoinedStr"),
    ("x = [i for i in range(3)]", "ListComp"),
    ("x = 2 ** 1000", "BinOp"),
    ("x = dict(**y)", "'\\*\\*' expansion"),
    ("x = {**y}", "'\\*\\*' expansion"),
    ("x = [*y]", "Starred"),
    ("x = dict(open('f'))", "positional"),
    ("x = -'a'", "not a number"),
    ("x = y = 1", "Assign"),
    ("x.y = 1", "Assign"),
    ("if True:\n    x = 1", "If"),
])
def test_code_is_refused_with_source_and_line(line, what):
    text = "model = dict(type='UniAD', size=(1, 2))\n" + line + "\n"
    with pytest.raises(UnsafeConfigError, match=rf"ckpt\.pth: line 2 holds .*{what}"):
        parse_config_text(text, "ckpt.pth")


def test_invalid_text_and_reserved_keys_are_config_errors():
    with pytest.raises(ConfigError, match="not valid Python"):
        config_from_text("x = (\n", "ckpt.pth")
    with pytest.raises(ConfigError, match="reserved key"):
        config_from_text("filename = 'x'\n", "ckpt.pth")
    with pytest.raises(ConfigError, match="is of type int"):
        config_from_text(3, "ckpt.pth")
    assert issubclass(UnsafeConfigError, ValueError)  # tools/infer.py and tools/deploy.py print ValueErrors
