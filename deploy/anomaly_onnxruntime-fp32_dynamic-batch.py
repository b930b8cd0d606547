# UniAD end2end (uint8 NHWC image -> scores, labels, maps, masks) for ONNX Runtime, fp32, any batch size.
# The transformer is exported folded (gen3d/deploy/uniad_fused.py: position-embedding terms, the constant decoder
# queries and shared-input projections precomputed) with each attention core as ONNX Runtime's fused
# com.microsoft.MultiHeadAttention (ort_attention): an ONNX Runtime-only graph (the manifest lists 'custom_ops');
# the TensorRT configs export the folded graph with standard ops only.
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=None, dynamic_batch=True, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='anomaly', mode='end2end')
# runtime: ONNX Runtime session hints recorded in the manifest ('runtime_hints'). On x86 CPUs the fused
# SkipLayerNormalization kernel was slower than LayerNormalization + Add; thread spinning doubled the latency as
# soon as another process shared the cores (an inspection PC also runs capture and I/O).
backend_config = dict(type='onnxruntime', precision='fp32', ort_attention=True,
                      runtime=dict(graph_optimization_level='ORT_ENABLE_ALL', intra_op_num_threads=0,
                                   disabled_optimizers=['SkipLayerNormFusion'],
                                   session_config={'session.intra_op.allow_spinning': '0'}))
