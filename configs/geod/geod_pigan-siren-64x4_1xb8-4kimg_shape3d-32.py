# CPU demo: GeoD (arXiv 2209.15637) on the CPU pi-GAN of configs/pigan/ (SIREN 4 x 64, 16 -> 32 px, 500 iterations
# of 8 = 4 kimg) on the offline 3D set, whose true normals and masks are the targets of D's geometry head
# (DatasetGeometry); D's normals of the fakes then supervise the rendered ones. The paper's (pof3d loss_pose.py)
# G-weight ramp is 20-60 kimg, which a 4 kimg run never reaches: scaled by 1/25 to 0.8-2.4 kimg (iterations 100-300,
# the same 1:3 ratio; D's head sees 100 iterations of true normals first). weight_end stays pof3d's 0.1 and the stop
# at 2000 kimg (never reached); untuned. D's geometry weight 1.0 is not public (gen3d's assumption).
_base_ = ['../pigan/pigan_siren-64x4_1xb8-4kimg_shape3d-32.py']
model = dict(geod=dict(source=dict(type='DatasetGeometry', outputs=('normal',)), outputs=('normal',),
                       weight_start=0.0, weight_end=0.1, ramp_kimg=(0.8, 2.4), stop_kimg=2000, d_weight=1.0,
                       interval=1))
