# Segmentor end2end for TensorRT, fp16 (weakly typed FP16 flag), batch 1 at 512x512, label map out (ArgMax in
# the graph; uint8 class ids). The engine is built only where TensorRT imports; elsewhere the ONNX file is the
# artifact and the manifest says why. Engine gate: label agreement >= min_label_agreement vs PyTorch fp32.
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=(512, 512), dynamic_batch=False, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='segmentation', mode='end2end', output='label_map')
backend_config = dict(
    type='tensorrt', precision='fp16', min_label_agreement=0.99, logit_atol=5e-2,
    common_config=dict(precision='fp16', strongly_typed=False, max_workspace_size='2GiB'),
    model_inputs=[dict(input_shapes=dict(image=dict(shape=[1, 512, 512, 3])))])
