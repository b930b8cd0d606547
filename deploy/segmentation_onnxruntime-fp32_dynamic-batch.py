# Segmentor end2end (uint8 NHWC image -> seg_logits float32 (N, C, H, W)) for ONNX Runtime, fp32, any batch size.
# input_shape=None: the size of the first validation image of the model config (the graph does not resize).
# A teacher-student / FST checkpoint exports its student (manifest model.exported='student').
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=None, dynamic_batch=True, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='segmentation', mode='end2end', output='logits')
backend_config = dict(type='onnxruntime', precision='fp32',
                      runtime=dict(graph_optimization_level='ORT_ENABLE_ALL', intra_op_num_threads=0,
                                   session_config={'session.intra_op.allow_spinning': '0'}))
