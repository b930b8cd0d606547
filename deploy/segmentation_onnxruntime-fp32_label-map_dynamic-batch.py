# Segmentor end2end with the argmax in the graph: uint8 NHWC image -> label_map uint8 (N, H, W) of class ids
# (index into manifest model.classes), for ONNX Runtime, fp32, any batch size. Gate: label agreement == 1.0.
_base_ = ['./segmentation_onnxruntime-fp32_dynamic-batch.py']
codebase_config = dict(output='label_map')
