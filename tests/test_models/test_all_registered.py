"""Registry-driven smoke test: every model registered in gen3d's MODELS builds from a config dict and runs.

A model registered without an entry in SMOKE fails ``test_every_registered_model_has_a_smoke_case``, so new
models cannot slip past this test.
"""

import pytest
import torch

import gen3d.models  # noqa: F401 - registers the models
from gen3d.registry import MODELS

L, B, C = 16, 2, 8  # tokens (4x4 grid), batch, channels

SMOKE = {
    "FST": (dict(method=dict(type="MeanTeacher", segmentor=dict(
        type="EncoderDecoder",
        backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", pretrained=False),
        decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8, low_level_channels=4))), k=1),
            lambda: (torch.rand(B, 3, 48, 50),)),
    "UniAD": (dict(backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", pretrained=False),
                   input_size=(64, 64), reconstruction=dict(hidden_dim=16, num_heads=2, num_encoder_layers=1,
                                                            num_decoder_layers=1, dim_feedforward=32)),
              lambda: (torch.rand(B, 3, 64, 64),)),
    "TimmFeatureExtractor": (dict(model_name="tf_efficientnet_lite0", pretrained=False),
                             lambda: (torch.rand(B, 3, 48, 48),)),
    "FeatureAligner": (dict(in_channels=(3, 5), in_strides=(4, 16)),
                       lambda: ([torch.rand(B, 3, 16, 16), torch.rand(B, 5, 4, 4)],)),
    "UniADReconstruction": (dict(in_channels=C, grid_size=(4, 4), hidden_dim=16, num_heads=2, num_encoder_layers=1,
                                 num_decoder_layers=1, dim_feedforward=32),
                            lambda: (torch.rand(B, C, 4, 4),)),
    "ReconstructionAnomalyMap": (dict(output_size=(32, 32)), lambda: (torch.rand(B, C, 4, 4), torch.rand(B, C, 4, 4))),
    "LearnedPositionEmbedding2d": (dict(grid_size=(4, 4), num_feats=4), lambda: ()),
    "MaskedMultiheadAttention": (dict(embed_dim=C, num_heads=2), lambda: (torch.rand(L, B, C),) * 3),
    "UniADEncoderLayer": (dict(hidden_dim=C, num_heads=2, dim_feedforward=16),
                          lambda: (torch.rand(L, B, C), torch.rand(L, 1, C))),
    "UniADDecoderLayer": (dict(num_queries=L, hidden_dim=C, num_heads=2, dim_feedforward=16),
                          lambda: (torch.rand(L, B, C), torch.rand(L, B, C), torch.rand(L, 1, C))),
    "TimmSegBackbone": (dict(model_name="tf_efficientnet_lite0", output_stride=16, pretrained=False),
                        lambda: (torch.rand(B, 3, 48, 48),)),
    "ASPP": (dict(in_channels=C, channels=4, output_stride=8), lambda: (torch.rand(B, C, 5, 7),)),
    "RepresentationHead": (dict(in_channels=C, channels=4, out_channels=16), lambda: (torch.rand(B, C, 5, 7),)),
    "DeepLabV3PlusHead": (dict(in_channels=(C, 12), num_classes=3, channels=4, low_level_channels=4, with_repr=True),
                          lambda: ([torch.rand(B, C, 9, 11), torch.rand(B, 12, 3, 3)],)),
    "DACS": (dict(backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0"),
                  decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8, low_level_channels=4)),
             lambda: (torch.rand(B, 3, 48, 50),)),
    "EncoderDecoder": (dict(backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0"),
                            decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8,
                                             low_level_channels=4)),
                       lambda: (torch.rand(B, 3, 48, 50),)),
    "MeanTeacher": (dict(backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0"),
                         decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8, low_level_channels=4)),
                    lambda: (torch.rand(B, 3, 48, 50),)),
    "U2PL": (dict(backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0"),
                  decode_head=dict(type="DeepLabV3PlusHead", num_classes=3, channels=8, low_level_channels=4,
                                   with_repr=True, repr_channels=8)),
             lambda: (torch.rand(B, 3, 48, 50),)),
    "U2PLContrastiveLoss": (dict(num_classes=3, feat_dim=C, num_queries=4, num_negatives=4),
                            lambda: (torch.rand(B, C, 5, 7), torch.rand(B, C, 5, 7), torch.rand(B, 3, 5, 7).softmax(1),
                                     torch.randint(0, 3, (B, 5, 7)), torch.ones(B, 5, 7, dtype=torch.bool),
                                     torch.ones(B, 5, 7, dtype=torch.bool), torch.tensor([True, False]))),
    # GAN networks (16 px, widths <= 16)
    "StyleGAN2Generator": (dict(resolution=16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=128, channel_max=16),
                           lambda: (torch.randn(B, 16),)),
    "StyleGAN2Discriminator": (dict(resolution=16, c_dim=2, channel_base=128, channel_max=16),
                               lambda: (torch.rand(B, 3, 16, 16) * 2 - 1, torch.eye(2))),
    "DynamicDiscriminator": (dict(discriminator=dict(type="StyleGAN2Discriminator", resolution=16, channel_base=128,
                                                     channel_max=16), start_ratio=0.5, end_ratio=1.0, total_img=1000,
                                  random_select=True, keep_layers=2),
                             lambda: (torch.rand(B, 3, 16, 16) * 2 - 1,)),
    # GeoD (models/gans/geod/): geometry head over StyleGAN2's block outputs, real-image geometry sources
    "GeometryAwareDiscriminator": (dict(discriminator=dict(type="StyleGAN2Discriminator", resolution=16,
                                                           channel_base=128, channel_max=16),
                                        outputs=("normal", "depth"), head_channels=8, feature_layers=("b16", "b8")),
                                   lambda: (torch.rand(B, 3, 16, 16) * 2 - 1,)),
    "DatasetGeometry": (dict(), lambda: (torch.rand(B, 3, 8, 8), dict(real_normal=torch.rand(B, 3, 8, 8)))),
    "PrecomputedGeometry": (dict(), lambda: (torch.rand(B, 3, 8, 8), dict(real_normal=torch.rand(B, 3, 8, 8)))),
    "Unsup3dInverseRenderer": (dict(resolution=8, nf=4, zdim=8, light_nf=4, conf_nf=4, conf_zdim=8),
                               lambda: (torch.rand(B, 3, 16, 16) * 2 - 1,)),
    "InverseRendererGeometry": (dict(renderer=dict(resolution=8, nf=4, zdim=8, light_nf=4, conf_nf=4, conf_zdim=8)),
                                lambda: (torch.rand(B, 3, 16, 16) * 2 - 1,)),
    # GAN model and data preprocessor (helper B)
    "StyleGAN2": (dict(generator=dict(type="StyleGAN2Generator", resolution=16, z_dim=16, w_dim=16, mapping_layers=2,
                                      channel_base=128, channel_max=16),
                       discriminator=dict(type="StyleGAN2Discriminator", resolution=16, channel_base=128,
                                          channel_max=16)),
                  lambda: (torch.randn(B, 16),)),
    "PiGANGenerator": (dict(z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8, num_steps=6, mapping_hidden=16,
                            avg_samples=64), lambda: (torch.randn(B, 16),)),
    "PiGANDiscriminator": (dict(img_resolution=16, width=0.05), lambda: (torch.rand(B, 3, 8, 8) * 2 - 1,)),
    "PiGAN": (dict(generator=dict(type="PiGANGenerator", z_dim=16, hidden_dim=16, n_layers=2, img_resolution=8,
                                  num_steps=4, mapping_hidden=16, avg_samples=64),
                   discriminator=dict(type="PiGANDiscriminator", img_resolution=8, width=0.05, latent_dim=0)),
              lambda: (torch.randn(B, 16),)),
    "GANDataPreprocessor": (dict(), lambda: (dict(inputs=torch.randint(0, 256, (B, 3, 16, 16), dtype=torch.uint8)),)),
    # DepthGAN (models/gans/depthgan/): z = [z_depth, z_rgb], pose = yaw (N, 1)
    "DepthGAN": (dict(generator=dict(type="DepthGANGenerator", resolution=16, z_dim_depth=8, z_dim_rgb=8, w_dim=16,
                                     mapping_layers=2, channel_base=128, channel_max=16),
                      discriminator=dict(type="DepthGANDiscriminator", resolution=16, channel_base=128, channel_max=16,
                                         depth_head_resolutions=(16, 8))),
                 lambda: (torch.randn(B, 16),)),
    "DepthGANGenerator": (dict(resolution=16, z_dim_depth=8, z_dim_rgb=8, w_dim=16, mapping_layers=2, channel_base=128,
                               channel_max=16), lambda: (torch.randn(B, 16), None, torch.zeros(B, 1))),
    "DepthGANDiscriminator": (dict(resolution=32, channel_base=128, channel_max=16, depth_head_resolutions=(32, 16, 8)),
                              lambda: (torch.rand(B, 4, 32, 32) * 2 - 1,)),
    # BigGAN (models/gans/biggan/, InterClassGAN part 1): class-conditional, hierarchical z (3 chunks at 16 px)
    "BigGAN": (dict(generator=dict(type="BigGANGenerator", resolution=16, z_dim=12, c_dim=2, shared_dim=8, ch=4),
                    discriminator=dict(type="ProjectionDiscriminator", resolution=16, c_dim=2, ch=4)),
               lambda: (torch.randn(B, 12), dict(gt_label=torch.tensor([0, 1])))),
    "BigGANGenerator": (dict(resolution=16, z_dim=12, c_dim=2, shared_dim=8, ch=4),
                        lambda: (torch.randn(B, 12), torch.eye(2))),
    "ProjectionDiscriminator": (dict(resolution=16, c_dim=2, ch=4),
                                lambda: (torch.rand(B, 3, 16, 16) * 2 - 1, torch.eye(2))),
    # PatchCore (anomaly/patchcore/): a bank fitted from the smoke inputs' own features first (third element)
    "PatchCore": (dict(backbone=dict(type="TimmFeatureExtractor", model_name="tf_efficientnet_lite0", pretrained=False,
                                     out_blocks=(4, 10)), input_size=(64, 64)),
                  lambda: (torch.rand(B, 3, 64, 64),),
                  lambda m: (m.collect(m.extract_embedding(torch.rand(B, 3, 64, 64)), None), m.fit_memory_banks())),
    # LPIPS (losses/lpips.py): random weights for the smoke test only (real use loads weights files)
    "LPIPS": (dict(pretrained=False), lambda: (torch.rand(B, 3, 32, 32) * 2 - 1, torch.rand(B, 3, 32, 32) * 2 - 1)),
    # PadInv (models/editing/padinv/): a random tiny StyleGAN2 generator config instead of a checkpoint
    "PadInv": (dict(generator=dict(type="StyleGAN2Generator", resolution=16, z_dim=16, w_dim=16, mapping_layers=2,
                                   channel_base=128, channel_max=16),
                    encoder=dict(backbone="light", backbone_cfg=dict(widths=(8, 16, 16)), fpn_channels=16,
                                 padding_level=2), loss=dict(lpips_weight=0.0, id_weight=0.0)),
               lambda: (torch.rand(B, 3, 16, 16) * 2 - 1,)),
    # FID Inception-v3 (helper C): 75 px is its smallest input; the 299 px resize is skipped to stay fast.
    "FCNAuxHead": (dict(in_channels=C, num_classes=3, channels=4, in_index=0), lambda: ([torch.rand(B, C, 5, 7)],)),
}


def _registered():
    """gen3d's own models; toys that tests register into MODELS (tests.helpers.toy, ...) are not part of the set."""
    return sorted(name for name, cls in MODELS.module_dict.items() if cls.__module__.startswith("gen3d."))


def test_models_were_registered():
    assert len(_registered()) > 0, "no model found in gen3d's MODELS registry"


def test_every_registered_model_has_a_smoke_case():
    missing = set(_registered()) - set(SMOKE)
    assert not missing, f"add smoke cases for {sorted(missing)}"


@pytest.mark.parametrize("name", _registered())
def test_registered_model_builds_and_runs(name):
    kwargs, make_inputs, *prepare = SMOKE[name]
    torch.manual_seed(0)
    model = MODELS.build(dict(type=name, **kwargs)).eval()
    for step in prepare:  # a model that needs fitting before its forward (PatchCore's memory banks)
        with torch.no_grad():
            step(model)
    with torch.no_grad():
        out = model(*make_inputs())
    if isinstance(out, dict):  # data preprocessors return the batch as a dict
        out = [v for v in out.values() if isinstance(v, torch.Tensor)]
    tensors = out if isinstance(out, (list, tuple)) else [out]
    assert tensors and all(isinstance(t, torch.Tensor) and torch.isfinite(t).all() for t in tensors)
