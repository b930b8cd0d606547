import pytest
import timm
import torch

from gen3d.models.backbones import TimmSegBackbone, load_lite0_imagenet


@pytest.mark.parametrize("output_stride,high", [(8, 8), (16, 4)])
def test_resnet18_output_stride(output_stride, high):
    backbone = TimmSegBackbone("resnet18", output_stride=output_stride).eval()
    assert backbone.out_channels == [64, 512]
    assert backbone.out_strides == [4, output_stride]
    with torch.no_grad():
        low, top = backbone(torch.randn(1, 3, 64, 64))
    assert low.shape == (1, 64, 16, 16) and top.shape == (1, 512, high, high)


def test_resnet50_os16_multi_grid_and_freezing():
    backbone = TimmSegBackbone("resnet50", output_stride=16, multi_grid=(2, 2, 4), frozen_stages=1, norm_eval=True)
    assert backbone.out_channels == [256, 2048] and backbone.out_strides == [4, 16]
    # U2PL `_make_layer`: block 0 uses previous_dilation (1) x 2, the others stage dilation (2) x grid.
    assert [block.conv2.dilation[0] for block in backbone.body.layer4] == [2, 4, 8]
    assert [block.conv2.padding[0] for block in backbone.body.layer4] == [2, 4, 8]
    backbone.train()
    assert not any(p.requires_grad for p in backbone.body.layer1.parameters())
    assert all(p.requires_grad for p in backbone.body.layer2.parameters())
    assert not any(m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        low, top = backbone(torch.randn(1, 3, 65, 67))
    assert low.shape[-2:] == (17, 17) and top.shape[-2:] == (5, 5)


def test_lite0_offline_weights_and_strides():
    backbone = TimmSegBackbone("tf_efficientnet_lite0", output_stride=16, pretrained="lite0-offline").eval()
    assert backbone.out_channels == [24, 320] and backbone.out_strides == [4, 16]
    reference = load_lite0_imagenet(timm.create_model("tf_efficientnet_lite0", pretrained=False))
    ours = backbone.body.state_dict()
    for key, value in reference.state_dict().items():
        if key in ours:
            torch.testing.assert_close(ours[key], value, rtol=0, atol=0)
    assert torch.equal(ours["conv_stem.weight"], reference.conv_stem.weight)
    with torch.no_grad():
        low, top = backbone(torch.randn(1, 3, 64, 64))
    assert low.shape == (1, 24, 16, 16) and top.shape == (1, 320, 4, 4)


def test_lite0_offline_rejects_other_models():
    with pytest.raises(ValueError):
        TimmSegBackbone("resnet18", pretrained="lite0-offline")
