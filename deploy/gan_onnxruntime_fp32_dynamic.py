# GAN generator end2end (z [N, z_dim] (+ one-hot c [N, c_dim]) (+ pose [N, 2] (pitch, yaw) for 3D-aware generators)
# and truncation_psi [1] -> uint8 NHWC image, plus depth / normal / mask where the generator renders them) for
# ONNX Runtime, fp32, any batch size. Exports generator_ema with constant noise; truncation_psi is a graph input
# whose default (1.0 here: no truncation) is stored in the graph; the manifest records the pose distribution. Gate:
# max |diff| <= 1 grey level vs PyTorch at psi 1.0 and 0.7, and the geometry maps (gen3d/deploy/gan_wrapper.py).
# output='float' exports the raw NCHW synthesis output instead.
onnx_config = dict(type='onnx', exporter='torchscript', opset_version=17, save_file='model.onnx',
                   input_shape=None, dynamic_batch=True, batch_size=1, simplify=True)
codebase_config = dict(type='gen3d', task='generation', mode='end2end', output='uint8', truncation_psi=1.0,
                       truncation_cutoff=None, parity_psi=(1.0, 0.7))
backend_config = dict(type='onnxruntime', precision='fp32',
                      runtime=dict(graph_optimization_level='ORT_ENABLE_ALL', intra_op_num_threads=0,
                                   session_config={'session.intra_op.allow_spinning': '0'}))
