# pi-GAN's optimizers (marcoamonteiro/pi-GAN train.py and curriculums.py 'CelebA'): Adam, betas (0, 0.9), G lr 6e-5,
# D lr 2e-4, gradients clipped to norm 10. The curriculum's stage lr overrides these each iteration (as train.py sets
# the param groups from the curriculum).
optim_wrapper = dict(
    constructor='MultiOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=6e-5, betas=(0.0, 0.9)),
                   clip_grad=dict(max_norm=10.0)),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.0, 0.9)),
                       clip_grad=dict(max_norm=10.0)),
)
