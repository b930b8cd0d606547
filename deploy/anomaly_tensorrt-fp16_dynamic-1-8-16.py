# UniAD end2end for TensorRT, fp16, dynamic batch: one optimisation profile min 1 / opt 8 / max 16 at 224x224.
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=(224, 224), dynamic_batch=True, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='anomaly', mode='end2end')
backend_config = dict(
    type='tensorrt', precision='fp16',
    common_config=dict(precision='fp16', strongly_typed=False, max_workspace_size='2GiB'),
    model_inputs=[dict(input_shapes=dict(
        image=dict(min_shape=[1, 224, 224, 3], opt_shape=[8, 224, 224, 3], max_shape=[16, 224, 224, 3]),
        class_index=dict(min_shape=[1], opt_shape=[8], max_shape=[16])))])
