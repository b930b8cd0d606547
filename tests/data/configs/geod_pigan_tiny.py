# The tiny pi-GAN of pigan_tiny.py with GeoD on the dataset's true normals (DatasetGeometry), 2 iterations, G weight
# ramping over images 0-4 (so the second iteration has it on), no checkpoints. Tests pass --data-root.
_base_ = ['./pigan_tiny.py']
model = dict(geod=dict(source=dict(type='DatasetGeometry'), head_channels=4, weight_end=0.1, ramp_kimg=(0.0, 0.004)))
train_dataloader = dict(dataset=dict(require=('pose', 'depth', 'normal', 'mask')))
train_cfg = dict(max_iters=2)
default_hooks = dict(checkpoint=dict(interval=100))
