# FST-W around DACS, UDA GTA5 -> Cityscapes (official configs/fst_w/stepstep_gta2cs_*_r101_s0_step3.py, fst_w.py):
# K = 3 virtual students, each one step from the snapshot on its own 2 + 2 independently drawn samples
# (FutureBatchDataset ~ official StepUDADataset, ahead_step=3), EMA 0.999 with their mean, real step, one more EMA;
# parameters only restored. DACS recipe, optimiser and schedule as the FST-D DACS config.
_base_ = ['./fst-d_dacs_deeplabv3plus-r101-os8_1xb2-40k_gta5-to-cityscapes-512.py']
train_dataloader = dict(dataset=dict(type='FutureBatchDataset', k=3))
model = dict(mode='W', same_batch=False, ema_after_real_step=True)
