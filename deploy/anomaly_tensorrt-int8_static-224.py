# UniAD end2end for TensorRT int8 through explicit Q/DQ (symmetric int8 weights and activations, zero point 0,
# per-channel weights), calibrated on the validation split; the same file runs int8 in ONNX Runtime (slower on
# x86 than the uint8-activation model of anomaly_onnxruntime-int8_dynamic-batch.py).
_base_ = ['./anomaly_tensorrt-fp32_static-224.py']
backend_config = dict(precision='int8', calib_images=32,
                      common_config=dict(precision='int8'),
                      quantization=dict(symmetric_activations=True, per_channel=True, method='minmax',
                                        op_types=['Conv', 'MatMul', 'Gemm'], exclude_attention_matmuls=True,
                                        quantize_bias=False))
