# UniAD end2end for TensorRT int8 through explicit Q/DQ (symmetric int8 weights and activations, zero point 0,
# per-channel weights), calibrated on the validation split; the same file runs int8 in ONNX Runtime (slower on
# x86 than the uint8-activation model of anomaly_onnxruntime-int8_dynamic-batch.py).
# Percentile calibration (99.999 %) and Q/DQ on the ReLU6 Clips: on the demo checkpoint (32 parity images, ONNX
# Runtime) label agreement 0.91 and max |score diff| 0.012, against 0.72 and 0.062 with min-max and float Clips
# (min-max with Clips: 0.84 / 0.009; entropy: 0.72 / 0.062; measured side by side, 2026-11-24).
_base_ = ['./anomaly_tensorrt-fp32_static-224.py']
backend_config = dict(precision='int8', calib_images=32,
                      common_config=dict(precision='int8'),
                      quantization=dict(symmetric_activations=True, per_channel=True, method='percentile',
                                        op_types=['Conv', 'MatMul', 'Gemm', 'Clip'], exclude_attention_matmuls=True,
                                        quantize_bias=False))
