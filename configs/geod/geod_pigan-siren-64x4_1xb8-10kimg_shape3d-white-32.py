# make demo-3d's GeoD run: the baseline pigan_siren-64x4_1xb8-10kimg_shape3d-white-32.py (same seed, data, budget)
# with the GeoD settings of geod_pigan-siren-64x4_1xb8-4kimg_shape3d-32.py unchanged: D's geometry head learns the
# set's true normals (DatasetGeometry), its normals of the fakes supervise the rendered ones with the G weight ramped
# 0 -> 0.1 over 0.8-2.4 kimg (pof3d's 20-60 kimg / 25) and held to the end of the run (9.6 kimg). Untuned.
_base_ = ['../pigan/pigan_siren-64x4_1xb8-10kimg_shape3d-white-32.py']
model = dict(geod=dict(source=dict(type='DatasetGeometry', outputs=('normal',)), outputs=('normal',),
                       weight_start=0.0, weight_end=0.1, ramp_kimg=(0.8, 2.4), stop_kimg=2000, d_weight=1.0,
                       interval=1))
