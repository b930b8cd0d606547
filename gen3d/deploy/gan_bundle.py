"""The generation part of :func:`gen3d.deploy.bundle.build_bundle` (``codebase_config.task='generation'``).

Deploy config keys read here::

    onnx_config = dict(..., dynamic_batch=True, batch_size=1, opset_version=17, simplify=True)
    codebase_config = dict(type='gen3d', task='generation', mode='end2end',
                           output='uint8' | 'float',       # NHWC uint8 image, or the raw NCHW synthesis output
                           truncation_psi=1.0,             # default of the truncation_psi graph input
                           truncation_cutoff=None,         # truncate the first k ws only (fixed at export)
                           parity_psi=(1.0, 0.7))          # psi values the gate feeds
    backend_config = dict(type='onnxruntime', precision='fp32', runtime=dict(...))

The exported module is the EMA generator (``generator_ema``) of a GAN model; the graph is described in
:mod:`gen3d.deploy.gan_wrapper`. A 3D-aware generator (pi-GAN) adds a ``pose`` input whose manifest entry carries
``layout`` (``['pitch', 'yaw']``) and ``distribution`` (its ``pose_distribution()``: mode, means, stds, radius, fov,
ray range), from which :class:`gen3d.runtime.generation.GeneratorRuntime` draws seeded poses; its depth, normal and
mask outputs are gated like the image (float gate, at seeded poses). DepthGAN's generator takes ``z_depth``, ``z_rgb``
and ``yaw`` (layout ``['yaw']``) instead of ``z`` and ``pose``, outputs ``image`` and ``depth``, and its manifest's
``model.latents`` lists the latent inputs in the order they make up ``z`` (``model.z_dim``, their sum). The gate runs
before ``manifest.json`` is written; a failure raises :class:`~gen3d.deploy.parity.ParityError` with the numbers.
"""

from __future__ import annotations

import logging
import os
import os.path as osp

import torch
from mmengine.config import Config

from gen3d.runtime.manifest import FORMAT, FORMAT_VERSION, read_manifest, sha256_file, write_manifest

from .bundle_common import environment_versions
from .gan_wrapper import (
    IMAGE_MEANING,
    MAP_CHANNELS,
    MAP_MEANING,
    GeneratorEnd2End,
    example_feeds,
    generator_of,
    latent_inputs,
)
from .onnx_export import DEFAULT_OPSET, export_onnx, simplify_onnx
from .parity import gate_backend, ort_runner

logger = logging.getLogger("gen3d.deploy")
PARITY_IMAGES = 16  # latents per psi in the gate


def camera_of(generator: torch.nn.Module) -> dict:
    """The manifest's pose description of a 3D-aware generator that has ``pose_distribution()``, else ``{}``.

    ``layout`` (e.g. ``['pitch', 'yaw']``) and ``distribution`` (mode, means, stds, radius, fov): what the runtime
    draws seeded poses from.
    """
    dist = getattr(generator, "pose_distribution", None)
    if not callable(dist):
        return {}
    d = dict(dist())
    return {"layout": list(d.get("order", [])), "units": "radians", "distribution": d}


def build_gan_bundle(dcfg: Config, model: torch.nn.Module, checkpoint: str, work_dir: str,
                     max_images: int = PARITY_IMAGES) -> dict:
    """Export the (EMA) generator, gate it against PyTorch and write the manifest.

    Args:
        dcfg: Deploy config (``codebase_config.task == 'generation'``).
        model: The loaded GAN model (``init_model``) or a bare generator.
        checkpoint: The ``.pth`` it came from.
        work_dir: Bundle folder (created).
        max_images: Latents per psi for the gate.

    Returns:
        The manifest written to ``work_dir/manifest.json``.

    Raises:
        ParityError: The gate failed.
        ValueError: An unsupported mode, output, precision or backend.
    """
    oc, cc, backend = dcfg.onnx_config, dcfg.codebase_config, dcfg.backend_config
    mode, output = cc.get("mode", "end2end"), cc.get("output", "uint8")
    precision = backend.get("precision", "fp32")
    if mode != "end2end":
        raise ValueError(f"task='generation' exports mode='end2end' only, got {mode!r}")
    if precision != "fp32" or backend.get("type", "onnxruntime") != "onnxruntime":
        raise ValueError("task='generation' supports backend_config type='onnxruntime', precision='fp32' only")
    generator, role = generator_of(model)
    generator = generator.eval()
    cutoff = cc.get("truncation_cutoff")
    psi_default = float(cc.get("truncation_psi", 1.0))
    wrapper = GeneratorEnd2End(generator, output, cutoff).eval()
    names_in = wrapper.input_names
    dyn, batch = bool(oc.get("dynamic_batch", True)), int(oc.get("batch_size", 1))
    bdim: str | int = "batch" if dyn else batch
    res, ch = int(generator.img_resolution), int(generator.img_channels)
    feeds = example_feeds(generator, batch, psi_default)
    args = tuple(torch.from_numpy(feeds[n]) for n in names_in)
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, oc.get("save_file", "model.onnx"))
    opset, exporter = int(oc.get("opset_version", DEFAULT_OPSET)), oc.get("exporter", "torchscript")
    logger.info("exporting the %s %s (%s image) to %s", role, type(generator).__name__, output, path)
    names_out = wrapper.output_names(args)  # image, then the generator's other maps (GeneratorOutput fields)
    axes = {n: {0: "batch"} for n in (*names_in[:-1], *names_out)} if dyn else None
    export_onnx(wrapper, args, path, names_in, names_out, axes, opset, exporter)
    if oc.get("simplify", True):
        simplify_onnx(path, feeds)
    # truncation_psi stays a real input (its default in the manifest only; onnx-tensorrt would fold an initializer).
    step = 8 if dyn else batch
    n = max(step, (int(max_images) // step) * step)
    psis = tuple(float(p) for p in cc.get("parity_psi", (1.0, 0.7)))
    parity = gate_backend(ort_runner(path), generator, output, psis, n, step, cutoff)
    logger.info("fp32 parity: max |diff| %.3g (gate %.3g) over %d images", parity["max_abs_diff"], parity["gate"],
                parity["images"])
    meta = getattr(getattr(model, "cfg", None), "train_dataloader", None)
    classes: list[str] = []
    if generator.c_dim and meta is not None:  # class names of a conditional dataset, when the config lists them
        classes = [str(c) for c in ((meta.get("dataset", {}).get("classes")) or [])]
    latents = latent_inputs(generator)
    inputs = [{"name": name, "dtype": "float32", "shape": [bdim, width],
               "meaning": "standard-normal latents" if len(latents) == 1 else
               f"standard-normal latent of the {name[2:]} path (z = [{', '.join(n for n, _ in latents)}])"}
              for name, width in latents]
    if generator.c_dim:
        inputs.append({"name": "c", "dtype": "float32", "shape": [bdim, int(generator.c_dim)],
                       "meaning": "one-hot class labels", "classes": classes})
    if generator.pose_dim:
        inputs.append({"name": wrapper.pose_name, "dtype": "float32", "shape": [bdim, int(generator.pose_dim)],
                       "meaning": "camera poses" if wrapper.pose_name == "pose" else f"camera {wrapper.pose_name}",
                       **camera_of(generator)})
    inputs.append({"name": "truncation_psi", "dtype": "float32", "shape": [1], "default": [psi_default],
                   "meaning": "w = w_avg + psi * (w - w_avg); 1 = no truncation"})
    shape = [bdim, res, res, ch] if output == "uint8" else [bdim, ch, res, res]
    outputs = [{"name": "image", "dtype": output if output == "uint8" else "float32", "shape": shape,
                "layout": "NHWC" if output == "uint8" else "NCHW", "color": "RGB" if ch == 3 else "GRAY",
                "meaning": IMAGE_MEANING[output]}]
    outputs += [{"name": n, "dtype": "float32", "shape": [bdim, MAP_CHANNELS[n], res, res], "layout": "NCHW",
                 "meaning": MAP_MEANING[n]} for n in names_out[1:]]
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": "generation", "mode": mode, "output": output,
        "model": {"type": type(model).__name__, "exported": role, "exported_type": type(generator).__name__,
                  "config": getattr(getattr(model, "cfg", None), "filename", None) or "checkpoint",
                  "checkpoint": osp.basename(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
                  "classes": classes, "resolution": res, "img_channels": ch, "z_dim": int(generator.z_dim),
                  "c_dim": int(generator.c_dim), "pose_dim": int(generator.pose_dim), "noise_mode": "const",
                  "truncation_cutoff": cutoff,
                  **({"latents": [{"name": n, "dim": w} for n, w in latents]} if len(latents) > 1 else {})},
        "onnx": {"file": osp.basename(path), "sha256": sha256_file(path), "opset": opset, "exporter": exporter,
                 "precision": "fp32", "simplified": bool(oc.get("simplify", True))},
        "inputs": inputs, "preprocessing": {"in_graph": True, "note": "no image input: feed latents"},
        "outputs": outputs, "versions": environment_versions(), "engine": None,
        "engine_note": "backend is not tensorrt",
        "parity": parity, "deploy_config": osp.basename(getattr(dcfg, "filename", "") or "") or None,
        "backend": {"type": "onnxruntime", "precision": precision},
        "runtime_hints": {"onnxruntime": dict(backend.get("runtime", {}))},
    }
    write_manifest(work_dir, manifest)
    return read_manifest(work_dir)  # as sealed and written (manifest_sha256, every file's sha256)
