# UniAD end2end for CPU-only lines: int8 Q/DQ (Conv, ReLU6 and the weight MatMuls; attention products stay float:
# same speed, less error), calibrated on the validation split, for ONNX Runtime.
# MatMul outputs are not re-quantised (ONNX Runtime runs MatMulIntegerToFloat: no QLinearMatMul requantisation
# + DequantizeLinear before the float bias/residual Adds) and the in-graph (x - mean) / std stays float (quantised
# it cost a Q/DQ pass over the full-resolution frame). Each int8 MatMul and its bias Add are written as one
# MatMulIntegerToFloat (fuse_matmul_bias: bit-identical, 30 nodes fewer on UniAD; gen3d/deploy/ort_int8_fusion.py).
# Activations are uint8 asymmetric: ONNX Runtime's x86 int8 kernels (U8S8, VNNI) are ~2x faster than with the
# symmetric int8 activations TensorRT needs (see anomaly_tensorrt-int8_static-224.py for the TensorRT variant).
# The stem and the first block (the 112x112 layers of EfficientNet-Lite0) stay float: quantising the transformer
# alone moved the image score by 1e-4, the backbone alone as much as everything (0.018 mean |score diff| on a
# 1-epoch model), and most of that comes from the first layers (float stem + blocks.0: 0.008; deploy/README.md
# section 2, measured 2026-12-03). Per-channel weights stay on (off: label agreement 0.73 instead of 0.99).
# Weights are 7-bit (reduce_range): on x86 CPUs without VNNI (AVX2 only, e.g. AMD Zen 2/3) ONNX Runtime's U8S8
# kernels saturate full-range int8 weights in int16 (a worst-case MatMul gave 32.4 for 64; the tiny test model's
# gate failed on an AMD EPYC), and the file does not know which CPU will run it (deploy/README.md section 2).
_base_ = ['./anomaly_onnxruntime-fp32_dynamic-batch.py']
backend_config = dict(precision='int8', calib_images=32,
                      quantization=dict(symmetric_activations=False, per_channel=True, method='minmax',
                                        op_types=['Conv', 'MatMul', 'Gemm', 'Clip'], exclude_attention_matmuls=True,
                                        exclude_output_quantization=['MatMul'], float_affine_convs=True,
                                        fuse_matmul_bias=True, reduce_range=True,
                                        exclude_patterns=['/model/backbone/conv_stem/*', '/model/backbone/bn1/*',
                                                          '/model/backbone/blocks.0.*']))
