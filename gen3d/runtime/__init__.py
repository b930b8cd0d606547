"""gen3d.runtime: run a deployed bundle with onnxruntime or TensorRT, numpy and OpenCV only.

Importing this package never imports torch or mmengine (a test checks it), so it runs on an edge device that
has only the runtime dependencies. Example::

    from gen3d.runtime import AnomalyRuntime, iter_frames

    runtime = AnomalyRuntime("work_dirs/bundle", backend="auto")
    for frame in iter_frames("0"):  # camera 0
        result = runtime.predict([frame.rgb], "bottle")[0]

    seg = SegmentationRuntime("work_dirs/seg_bundle")      # label map, per-class areas, palette overlay
    labels = seg.predict([frame.rgb])[0]                    # labels.label_map (H, W), labels.areas()
"""

from gen3d.runtime.anomaly import AnomalyRuntime, Result
from gen3d.runtime.backend import Backend, OrtBackend, make_backend
from gen3d.runtime.generation import GeneratorRuntime
from gen3d.runtime.manifest import ManifestError, UnverifiedBundleWarning, load_manifest, reseal_bundle
from gen3d.runtime.paths import safe_component, safe_join
from gen3d.runtime.run import guess_class, is_bundle, run_bundle, run_inspection
from gen3d.runtime.segmentation import SegmentationRuntime, SegResult, read_label_map, write_label_map
from gen3d.runtime.sources import Frame, StreamStalled, imread_rgb, iter_frames
from gen3d.runtime.writers import VerdictWriter, write_overlay

Detector = AnomalyRuntime  # the name used in the deploy docs

__all__ = ["AnomalyRuntime", "Backend", "Detector", "Frame", "GeneratorRuntime", "ManifestError", "OrtBackend",
           "Result", "SegResult", "SegmentationRuntime", "StreamStalled", "UnverifiedBundleWarning", "VerdictWriter",
           "guess_class", "imread_rgb", "is_bundle", "iter_frames", "load_manifest", "make_backend",
           "read_label_map", "reseal_bundle", "run_bundle", "run_inspection", "safe_component", "safe_join",
           "write_label_map", "write_overlay"]
