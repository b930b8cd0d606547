# UniAD end2end for TensorRT, fp32, batch 1 at 224x224 (static shapes).
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=(224, 224), dynamic_batch=False, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='anomaly', mode='end2end')
backend_config = dict(
    type='tensorrt', precision='fp32',
    common_config=dict(precision='fp32', strongly_typed=False, max_workspace_size='1GiB'),
    model_inputs=[dict(input_shapes=dict(image=dict(shape=[1, 224, 224, 3]), class_index=dict(shape=[1])))])
