"""Default configs of the benchmarks and demos resolve under the repository, whatever the working directory."""

from pathlib import Path

from gen3d.benchmarks import benchmarks, gan_benchmarks
from gen3d.benchmarks.editing_benchmarks import LITE_CONFIG
from gen3d.demos import depthgan_demo, gan3d_demo, gan_demo, seg_demo
from gen3d.utils.repo_paths import REPO_ROOT, repo_file


def test_default_configs_are_repository_files_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: a relative default would not be found from here
    defaults = [benchmarks.UNIAD_CONFIG, benchmarks.SEG_SUP_CONFIG, benchmarks.SEG_U2PL_CONFIG,
                benchmarks.SEG_MT_CONFIG, *gan_benchmarks.GAN_CONFIGS.values(), *gan_demo.DEMO_CONFIGS.values(),
                *gan3d_demo.DEMO3D_RUNS.values(), *depthgan_demo.DEPTHGAN_RUNS.values(), seg_demo.U2PL_CONFIG,
                LITE_CONFIG]
    for path in defaults:
        assert Path(path).is_absolute() and Path(path).is_file(), path
    assert (REPO_ROOT / "tools" / "benchmark.py").is_file() and repo_file("setup.py") == str(REPO_ROOT / "setup.py")
