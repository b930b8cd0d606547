# GPU: GeoD (arXiv 2209.15637) on pi-GAN's CelebA 64 run of configs/pigan/ (the released curriculum, 200k iterations
# of 56 = 11.2M images). CelebA has no geometry: D's targets come from an Unsup3d-style inverse renderer trained on
# the reals with its own Adam and frozen after 600 kimg (VivianSZF/pof3d train_geod.py --ir_stop), at 64 px (pof3d's
# run_IR size). G's weight and schedule are pof3d's loss_pose.py defaults: 0 -> 0.1 over 20-60 kimg, off after
# 2000 kimg, every step. D's geometry weight (1.0) and the head width (the module default) are not public. Not run.
_base_ = ['../pigan/pigan_siren-256x8_1xb56-curriculum_celeba-64.py']
model = dict(geod=dict(source=dict(type='InverseRendererGeometry', renderer=dict(resolution=64), freeze_kimg=600),
                       outputs=('normal',), weight_start=0.0, weight_end=0.1, ramp_kimg=(20, 60), stop_kimg=2000,
                       d_weight=1.0, interval=1))
