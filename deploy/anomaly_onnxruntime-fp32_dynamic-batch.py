# UniAD end2end (uint8 NHWC image -> scores, labels, maps, masks) for ONNX Runtime, fp32, any batch size.
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=None, dynamic_batch=True, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='anomaly', mode='end2end')
# runtime: ONNX Runtime session hints recorded in the manifest ('runtime_hints'). On x86 CPUs the fused
# SkipLayerNormalization kernel was slower than LayerNormalization + Add; thread spinning doubled the latency as
# soon as another process shared the cores (an inspection PC also runs capture and I/O).
backend_config = dict(type='onnxruntime', precision='fp32',
                      runtime=dict(graph_optimization_level='ORT_ENABLE_ALL', intra_op_num_threads=0,
                                   disabled_optimizers=['SkipLayerNormFusion'],
                                   session_config={'session.intra_op.allow_spinning': '0'}))
