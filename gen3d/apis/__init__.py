"""Inference per family: load a checkpoint (``init_model``) and run it on images, arrays, folders, videos.

* anomaly: :func:`gen3d.apis.inference.inference_anomaly`;
* segmentation: :func:`gen3d.apis.seg_inference.inference_segmentor`;
* generation: :mod:`gen3d.apis.gan_inference` (``load_generator``, sampling), :mod:`gen3d.apis.gan_3d` (poses);
* editing on trained generators: :mod:`gen3d.apis.editing` (ReSeFa / SeFa), :mod:`gen3d.apis.padinv` (inversion).

The tools' config assembly is :mod:`gen3d.engine.launch`, the demos :mod:`gen3d.demos`, the benchmark tasks
:mod:`gen3d.benchmarks`, the checkout / wheel paths :mod:`gen3d.utils.repo_paths`.
"""
