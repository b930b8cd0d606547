# DAFormer / FST UDA schedule (official configs/_base_/schedules/{adamw,poly10warm}.py, FST configs/fst_*/*.py): 1 GPU,
# AdamW lr 6e-5 (decode head x10, no weight decay on norms), wd 0.01, 1500 linear warm-up iterations then poly
# (power 1) to 40k iterations, validation every 2k iterations. Leaf configs add the iteration-based checkpoint hook
# and log processor (default_runtime.py owns those keys).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
                     paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}, norm_decay_mult=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
                   dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=40000)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40000, val_interval=2000)
val_cfg, test_cfg = dict(type='ValLoop'), dict(type='TestLoop')
