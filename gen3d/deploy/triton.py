"""A Triton Inference Server model repository from a gen3d bundle (anomaly, segmentation or generation).

Layout written by :func:`write_triton_repo` (``python tools/deploy_triton.py BUNDLE --repo REPO``)::

    REPO/
      NAME/
        config.pbtxt     ModelConfig (triton-inference-server/common protobuf/model_config.proto), text format
        labels.txt       class names, one a line (segmentation bundles that name their classes; ``label_filename``)
        1/
          model.onnx     onnxruntime backend: a byte copy of the bundle's ``onnx.file`` (``defaults='embed'``: a
                         copy whose defaulted inputs carry the manifest defaults as ONNX initializers)
          model.plan     tensorrt_plan backend: a byte copy of the bundle's ``engine.file``

Facts the config relies on (Triton ``docs/user_guide/model_configuration.md``, ``model_config.proto``, and
``onnxruntime_backend`` ``src/onnxruntime.cc``, ``ValidateInputs``):

* ``max_batch_size > 0``: every input and output must have the batch as its first dimension; ``dims`` leave it out
  and a tensor that is only ``[batch]`` is written ``dims: [1]`` with ``reshape { shape: [] }`` (empty dims are not
  allowed). A graph without a dynamic batch axis (fixed-batch export) gets ``max_batch_size: 0`` and full ``dims``.
  Dynamic axes are ``-1``. ``dynamic_batching`` needs ``max_batch_size > 0``.
* The manifest's defaulted inputs (``image_threshold`` / ``pixel_threshold`` ``[C]``, ``truncation_psi`` ``[1]``)
  have no batch axis, so a config that lists them must have ``max_batch_size: 0``. The bundle graph holds them as
  plain (required) inputs, with the defaults in the manifest only (onnx-tensorrt would fold an initializer).
* The onnxruntime backend counts the config inputs minus the ``optional: true`` ones against the graph's required
  inputs (those without an initializer), and refuses ``optional`` inputs when ``max_batch_size > 0``. An input
  marked optional but without an initializer therefore fails to load; an absent optional input that has an ONNX
  initializer is not bound, so ONNX Runtime uses the initializer. Hence ``defaults='input'`` (default: byte copy,
  the client sends them, values in ``parameters``) and ``defaults='embed'`` (a copy with initializers: ``optional:
  true`` when ``max_batch_size`` is 0, left out of the config, i.e. fixed to the manifest values, when it is > 0).
"""

from __future__ import annotations

import json
import os
import os.path as osp
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from gen3d.runtime.manifest import bundle_file, int8_full_range, load_manifest, sha256_file

VERSION = "1"
CONFIG_FILE = "config.pbtxt"
LABELS_FILE = "labels.txt"
DEFAULT_MAX_BATCH = 8  # onnxruntime, dynamic batch graphs; tensorrt: the engine profile's max batch
BACKENDS = {"onnxruntime": ("onnxruntime_onnx", "onnxruntime", "model.onnx"),
            "tensorrt": ("tensorrt_plan", "tensorrt", "model.plan")}  # platform, backend, default model file name
KINDS = {"auto": "KIND_AUTO", "cpu": "KIND_CPU", "gpu": "KIND_GPU"}
ONNX_TO_TRITON = {TensorProto.BOOL: "TYPE_BOOL", TensorProto.UINT8: "TYPE_UINT8", TensorProto.UINT16: "TYPE_UINT16",
                  TensorProto.UINT32: "TYPE_UINT32", TensorProto.UINT64: "TYPE_UINT64", TensorProto.INT8: "TYPE_INT8",
                  TensorProto.INT16: "TYPE_INT16", TensorProto.INT32: "TYPE_INT32", TensorProto.INT64: "TYPE_INT64",
                  TensorProto.FLOAT16: "TYPE_FP16", TensorProto.FLOAT: "TYPE_FP32", TensorProto.DOUBLE: "TYPE_FP64",
                  TensorProto.STRING: "TYPE_STRING", TensorProto.BFLOAT16: "TYPE_BF16"}
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class Ident(str):
    """An enum value written without quotes in the text format (``TYPE_FP32``, ``KIND_GPU``)."""


@dataclass
class TritonOptions:
    """What :func:`write_triton_repo` writes (the ``tools/deploy_triton.py`` flags).

    Attributes:
        name: Model folder name (a plain name); ``None``: the bundle folder's name.
        backend: ``'onnxruntime'`` or ``'tensorrt'`` (the bundle's engine, as ``model.plan``).
        max_batch: ``max_batch_size``; ``None`` chooses (0 where the graph cannot batch, see the module docstring).
        instances: ``instance_group`` count.
        kind: ``'auto'``, ``'cpu'`` or ``'gpu'`` (tensorrt: gpu only).
        preferred_batch: ``dynamic_batching.preferred_batch_size`` (empty: Triton's choice).
        max_queue_delay_us: ``dynamic_batching.max_queue_delay_microseconds`` (Triton's default is 0).
        defaults: ``'input'`` (defaulted inputs are required inputs, model copied byte for byte) or ``'embed'``.
        int8_kernels: onnxruntime backend, int8 Q/DQ files: ``'auto'`` (``'exact'`` for full-range weights, which
            ONNX Runtime's fused int8 kernels saturate on x86 CPUs without VNNI, and the server's CPU is not known
            here; ``'fused'`` for 7-bit weights), ``'exact'`` (``optimization { graph { level: -1 } }``: basic graph
            optimisation, each Q/DQ pair as written) or ``'fused'`` (full optimisation: for servers with VNNI).
        overwrite: Replace ``REPO/NAME`` in a repository that is not empty.
    """

    name: str | None = None
    backend: str = "onnxruntime"
    max_batch: int | None = None
    instances: int = 1
    kind: str = "auto"
    preferred_batch: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    defaults: str = "input"
    int8_kernels: str = "auto"
    overwrite: bool = False
    notes: list[str] = field(default_factory=list)


def _dims(value_info: onnx.ValueInfoProto) -> list[int]:
    """The graph shape of a tensor, ``-1`` for every dynamic axis."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in shape.dim]


def graph_tensors(onnx_path: str) -> tuple[dict[str, tuple[int, list[int]]], dict[str, tuple[int, list[int]]]]:
    """``({input: (onnx elem type, dims)}, {output: ...})`` of a graph in graph order; initializers are not inputs."""
    graph = onnx.load(onnx_path, load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    ins = {v.name: (v.type.tensor_type.elem_type, _dims(v)) for v in graph.input if v.name not in inits}
    return ins, {v.name: (v.type.tensor_type.elem_type, _dims(v)) for v in graph.output}


def _triton_type(name: str, elem: int, entry: dict | None, where: str) -> str:
    if elem not in ONNX_TO_TRITON:
        raise ValueError(f"{where}: tensor {name!r} has ONNX type {TensorProto.DataType.Name(elem)}, which Triton "
                         "cannot serve")
    if entry is not None and "dtype" in entry:
        want = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(entry["dtype"]))
        if want != elem:
            raise ValueError(f"{where}: {name!r} is {TensorProto.DataType.Name(elem)} in the graph but "
                             f"{entry['dtype']} in the manifest")
    return ONNX_TO_TRITON[elem]


def _tensor(name: str, elem: int, dims: list[int], entry: dict | None, batched: bool, max_batch: int,
            where: str) -> dict[str, Any]:
    """One ``input`` / ``output`` entry; the manifest's static sizes refine dynamic non-batch graph axes."""
    shape = (entry or {}).get("shape") or []
    full = list(dims)
    for k, d in enumerate(dims):
        if d == -1 and not (k == 0 and batched) and k < len(shape) and isinstance(shape[k], int) and shape[k] > 0:
            full[k] = int(shape[k])
    out: dict[str, Any] = {"name": name, "data_type": Ident(_triton_type(name, elem, entry, where))}
    inner = full[1:] if max_batch > 0 else full
    if inner:
        out["dims"] = inner
    else:  # [batch] alone (or a scalar): dims may not be empty
        out["dims"], out["reshape"] = [1], {"shape": []}
    return out


def _is_batched(dims: list[int], entry: dict | None) -> bool:
    """A dynamic first axis in the graph that the manifest names (``'batch'``: a string is a dynamic axis)."""
    shape = (entry or {}).get("shape") or []
    return bool(dims) and dims[0] == -1 and bool(shape) and isinstance(shape[0], str)


def _engine_max_batch(engine: dict, batched_inputs: list[str]) -> int | None:
    """The largest batch every batched input accepts in some optimisation profile of the manifest's engine entry."""
    best = None
    for profile in engine.get("profiles") or []:
        sizes = [int(profile[n]["max"][0]) for n in batched_inputs if n in profile]
        if sizes:
            best = max(best or 0, min(sizes))
    return best


def build_config(manifest: dict, onnx_path: str, opts: TritonOptions, where: str = "bundle") -> dict[str, Any]:
    """The ModelConfig of a bundle as a dict (field names of ``model_config.proto``), rendered by :func:`to_pbtxt`.

    Raises:
        ValueError: A graph that does not match the manifest, or options this bundle or backend cannot take.
    """
    if opts.backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {sorted(BACKENDS)}, got {opts.backend!r}")
    if opts.kind not in KINDS:
        raise ValueError(f"--kind must be one of {sorted(KINDS)}, got {opts.kind!r}")
    if opts.defaults not in ("input", "embed"):
        raise ValueError(f"defaults must be 'input' or 'embed', got {opts.defaults!r}")
    if opts.int8_kernels not in ("auto", "exact", "fused"):
        raise ValueError(f"--int8-kernels must be 'auto', 'exact' or 'fused', got {opts.int8_kernels!r}")
    trt = opts.backend == "tensorrt"
    if trt and (opts.kind == "cpu" or opts.defaults == "embed"):
        raise ValueError("the tensorrt_plan backend runs on GPU instances only, and its engine cannot embed defaults "
                         "(use --backend onnxruntime for --kind cpu or --defaults embed)")
    if opts.instances < 1:
        raise ValueError(f"--instances must be >= 1, got {opts.instances}")
    g_in, g_out = graph_tensors(onnx_path)
    m_in = {e["name"]: e for e in manifest["inputs"]}
    m_out = {e["name"]: e for e in manifest["outputs"]}
    if set(g_in) != set(m_in):
        raise ValueError(f"{where}: graph inputs {list(g_in)} differ from the manifest inputs {list(m_in)}")
    missing = [n for n in m_out if n not in g_out]
    if missing:
        raise ValueError(f"{where}: the graph lacks the manifest outputs {missing} (graph outputs: {list(g_out)})")
    defaulted = [n for n in g_in if "default" in m_in[n]]
    batched = {n: _is_batched(d, m_in.get(n) or m_out.get(n)) for n, (_, d) in (*g_in.items(), *g_out.items())}
    embed = opts.defaults == "embed"
    unbatched = [n for n, b in batched.items() if not b and not (embed and n in defaulted)]
    can_batch = not unbatched and any(batched.values())
    engine = manifest.get("engine") or {}
    if opts.max_batch is None:
        max_batch = 0
        if can_batch:
            max_batch = (_engine_max_batch(engine, [n for n in g_in if batched[n]]) or DEFAULT_MAX_BATCH) if trt \
                else DEFAULT_MAX_BATCH
        if unbatched and any(batched.values()):
            opts.notes.append(f"max_batch_size 0: {unbatched} have no batch axis (Triton batches every tensor); "
                              "clients send whole batches, no dynamic batching"
                              + (" (--defaults embed fixes the defaulted ones and allows batching)"
                                 if set(unbatched) <= set(defaulted) and not trt else ""))
    else:
        max_batch = int(opts.max_batch)
        if max_batch < 0 or max_batch > 0 and not can_batch:
            raise ValueError(f"--max-batch {max_batch}: this graph cannot batch in Triton (tensors without a dynamic "
                             f"batch axis: {unbatched or 'all'}); use --max-batch 0"
                             + (" or --defaults embed" if unbatched and set(unbatched) <= set(defaulted) else ""))
        limit = _engine_max_batch(engine, [n for n in g_in if batched[n]]) if trt else None
        if limit is not None and max_batch > limit:
            raise ValueError(f"--max-batch {max_batch} exceeds the engine's largest profile batch {limit}")
    platform, backend, _ = BACKENDS[opts.backend]
    cfg: dict[str, Any] = {"name": opts.name, "platform": platform, "backend": backend, "max_batch_size": max_batch}
    inputs = []
    for n, (elem, dims) in g_in.items():
        if embed and n in defaulted and max_batch > 0:
            continue  # fixed to the manifest default (the initializer of the embedded copy)
        entry = _tensor(n, elem, dims, m_in[n], batched[n], max_batch, where)
        if trt and elem == TensorProto.INT64 and int(str(engine.get("tensorrt") or "10").split(".")[0]) < 10:
            entry["data_type"] = Ident("TYPE_INT32")  # TensorRT 8.6 engines keep int64 I/O as int32
        if embed and n in defaulted:
            entry["optional"] = True
        inputs.append(entry)
    cfg["input"] = inputs
    cfg["output"] = [_tensor(n, e, d, m_out.get(n), batched[n], max_batch, where) for n, (e, d) in g_out.items()]
    if max_batch > 0:
        cfg["dynamic_batching"] = {"max_queue_delay_microseconds": int(opts.max_queue_delay_us)}
        if opts.preferred_batch:
            bad = [b for b in opts.preferred_batch if not 1 <= int(b) <= max_batch]
            if bad:
                raise ValueError(f"--preferred-batch {bad} not within 1..max_batch_size {max_batch}")
            cfg["dynamic_batching"]["preferred_batch_size"] = [int(b) for b in opts.preferred_batch]
    elif opts.preferred_batch or opts.max_queue_delay_us:
        raise ValueError("--preferred-batch / --max-queue-delay-us need dynamic batching, i.e. max_batch_size > 0")
    cfg["instance_group"] = [{"count": int(opts.instances), "kind": Ident(KINDS["gpu" if trt else opts.kind])}]
    int8 = (manifest.get("onnx") or {}).get("precision") == "int8-qdq"
    auto = opts.int8_kernels == "auto" and int8_full_range(manifest)  # the server's CPU is not known here
    if not trt and int8 and (opts.int8_kernels == "exact" or auto):
        cfg["optimization"] = {"graph": {"level": -1}}  # the backend's ORT_ENABLE_BASIC: no fused int8 kernels
        if auto:
            opts.notes.append("full-range int8 weights: graph optimisation level -1 (basic), exact on every CPU; "
                              "--int8-kernels fused is faster on servers whose CPUs have VNNI")
    cfg["parameters"] = _parameters(manifest, m_in, defaulted)
    return cfg


def _parameters(manifest: dict, m_in: dict, defaulted: list[str]) -> dict[str, str]:
    """``parameters`` (string values): the manifest's task, classes, thresholds, input defaults and preprocessing."""
    model = manifest.get("model") or {}

    def js(value: Any) -> str:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))

    params = {"gen3d.task": manifest["task"], "gen3d.mode": str(manifest.get("mode")),
              "gen3d.manifest_sha256": str(manifest.get("manifest_sha256", "")),
              "gen3d.bundle_onnx_sha256": str(manifest["onnx"].get("sha256", "")),
              "gen3d.classes": js(list(model.get("classes") or []))}
    if manifest.get("output"):
        params["gen3d.output"] = str(manifest["output"])
    if manifest.get("thresholds"):
        params["gen3d.thresholds"] = js(manifest["thresholds"])
    for name in defaulted:
        params[f"gen3d.default.{name}"] = js(m_in[name]["default"])
    if manifest.get("preprocessing"):
        params["gen3d.preprocessing"] = js(manifest["preprocessing"])
    return params


def _quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, Ident):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return _quote(value)


def to_pbtxt(cfg: dict[str, Any], indent: int = 0) -> str:
    """Protobuf text format of a :func:`build_config` dict (``parameters`` as a map of string values)."""
    pad, lines = "  " * indent, []
    for key, value in cfg.items():
        if value is None:
            continue
        if key == "parameters":
            for k, v in value.items():
                lines.append(f"{pad}parameters {{\n{pad}  key: {_quote(k)}\n{pad}  value {{ string_value: "
                             f"{_quote(v)} }}\n{pad}}}")
        elif isinstance(value, dict):
            lines.append(f"{pad}{key} {{\n{to_pbtxt(value, indent + 1)}{pad}}}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            body = ",\n".join(f"{pad}  {{\n{to_pbtxt(v, indent + 2)}{pad}  }}" for v in value)
            lines.append(f"{pad}{key} [\n{body}\n{pad}]")
        elif isinstance(value, list):
            lines.append(f"{pad}{key}: [ {', '.join(_scalar(v) for v in value)} ]")
        else:
            lines.append(f"{pad}{key}: {_scalar(value)}")
    return "".join(line + "\n" for line in lines)


def embed_defaults(src: str, dst: str, defaults: dict[str, np.ndarray]) -> None:
    """Copy a graph, giving each named input an initializer of its default (an overridable initializer)."""
    model = onnx.load(src)
    names = {v.name for v in model.graph.input}
    for name, value in defaults.items():
        if name not in names:
            raise ValueError(f"{src}: no graph input {name!r} to embed a default into")
        model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
    onnx.checker.check_model(model)
    onnx.save(model, dst)


def check_name(name: str) -> str:
    """``name`` if it is a plain folder name (letters, digits, ``_ . -``; no path separator, not ``.``/``..``).

    Raises:
        ValueError: Any other name.
    """
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"--name {name!r} is not a plain model folder name (letters, digits, '_', '.', '-'; "
                         "starting with a letter or digit; no '/' or '..')")
    return name


def write_triton_repo(bundle_dir: str, repo: str, opts: TritonOptions | None = None,
                      verify_hashes: bool = True) -> dict[str, Any]:
    """Write ``REPO/NAME/{config.pbtxt, 1/model.onnx | 1/model.plan, labels.txt}`` from a (verified) bundle.

    Args:
        bundle_dir: A bundle folder (``tools/deploy.py``), verified whole (:func:`~gen3d.runtime.manifest
            .load_manifest`) unless ``verify_hashes`` is False.
        repo: The model repository (created; must be empty or absent unless ``opts.overwrite``, which replaces
            ``REPO/NAME`` only).
        opts: :class:`TritonOptions`.
        verify_hashes: Refuse a modified bundle.

    Returns:
        ``{'model_dir', 'config_path', 'config' (dict), 'files', 'notes'}``.

    Raises:
        ValueError: Bad name, a non-empty repository without ``overwrite``, no engine for ``tensorrt``, or a
            graph / option mismatch (see :func:`build_config`).
        ManifestError: The bundle does not verify.
    """
    manifest = load_manifest(bundle_dir, verify_hashes=verify_hashes)
    opts = opts or TritonOptions()
    name = check_name(opts.name or osp.basename(osp.normpath(osp.abspath(bundle_dir))))
    opts = replace(opts, name=name, notes=[])
    if osp.exists(repo) and not osp.isdir(repo):
        raise ValueError(f"--repo {repo} exists and is not a folder")
    if osp.isdir(repo) and os.listdir(repo) and not opts.overwrite:
        raise ValueError(f"--repo {repo} exists and is not empty; pass --overwrite to replace {name}/ in it")
    onnx_path = bundle_file(bundle_dir, manifest["onnx"]["file"], "onnx.file")
    src = onnx_path
    if opts.backend == "tensorrt":
        engine = manifest.get("engine")
        if not engine or not osp.isfile(bundle_file(bundle_dir, engine["file"], "engine.file")):
            raise ValueError(f"{bundle_dir} has no TensorRT engine ({manifest.get('engine_note', 'engine: null')});"
                             " use --backend onnxruntime")
        src = bundle_file(bundle_dir, engine["file"], "engine.file")
        opts.notes.append(f"model.plan runs only on GPU {engine.get('device')} class with TensorRT "
                          f"{engine.get('tensorrt')}: use the Triton release that ships that TensorRT version")
    cfg = build_config(manifest, onnx_path, opts, bundle_dir)
    os.makedirs(repo, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}.", dir=repo)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700: the server (another user in a container) must read it
    try:
        os.makedirs(osp.join(tmp, VERSION))
        dst = osp.join(tmp, VERSION, BACKENDS[opts.backend][2])
        defaults = {e["name"]: np.asarray(e["default"], np.dtype(e.get("dtype", "float32")))
                    for e in manifest["inputs"] if "default" in e}
        if opts.defaults == "embed" and defaults:
            embed_defaults(src, dst, defaults)
        else:
            shutil.copyfile(src, dst)  # a copy, never a link: the repository is self-contained
        cfg["parameters"]["gen3d.model_sha256"] = sha256_file(dst)
        classes = [str(c) for c in (manifest.get("model") or {}).get("classes") or []]
        if manifest["task"] == "segmentation" and classes:
            with open(osp.join(tmp, LABELS_FILE), "w", encoding="utf-8") as f:
                f.write("".join(c.replace("\n", " ") + "\n" for c in classes))
            for out in cfg["output"]:  # line k = class k; Triton's classification extension reads it
                out["label_filename"] = LABELS_FILE
        with open(osp.join(tmp, CONFIG_FILE), "w", encoding="ascii") as f:
            f.write(to_pbtxt(cfg))
        final = osp.join(repo, name)
        if osp.islink(final) or osp.isfile(final):
            raise ValueError(f"{final} exists and is not a model folder; remove it")
        if osp.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(osp.relpath(osp.join(d, f), final) for d, _, fs in os.walk(final) for f in fs)
    return {"model_dir": final, "config_path": osp.join(final, CONFIG_FILE), "config": cfg, "files": files,
            "notes": list(opts.notes)}
