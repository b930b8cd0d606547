# UniAD end2end for TensorRT, fp16 (weakly typed FP16 flag), batch 1 at 224x224. The attention mask is finite
# (-1e4) in the exported graph, so fp16 Softmax never sees -inf.
_base_ = ['./anomaly_tensorrt-fp32_static-224.py']
backend_config = dict(precision='fp16', common_config=dict(precision='fp16'))
