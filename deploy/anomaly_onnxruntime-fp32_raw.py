# UniAD raw graph: preprocessed float32 NCHW in, raw anomaly_map (N, 1, H, W) and pred_score (N,) out;
# the runtime resizes/normalises (manifest 'preprocessing') and applies the thresholds.
_base_ = ['./anomaly_onnxruntime-fp32_dynamic-batch.py']
codebase_config = dict(mode='raw')
