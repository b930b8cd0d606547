"""FCN auxiliary head (U2PL Cityscapes ``Aux_Module``, weight 0.4): shapes, training-only loss, unchanged inference."""

import pytest
import torch
from mmengine.optim import OptimWrapper
from torch import nn
from torch.nn import functional as F

from gen3d.models.segmentors import U2PL, EncoderDecoder, FCNAuxHead, MeanTeacher, ohem_cross_entropy

from .test_encoder_decoder import _toy_batch
from .test_teacher_student import STUDENT, make_batch

C = 3
AUX = dict(type="FCNAuxHead", in_index=1, channels=8, loss_weight=0.4)
BACKBONE_3 = dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0", output_stride=16, pretrained=False,
                  out_indices=(1, 3, 4))


def tiny(aux: bool, ohem: dict | None = None) -> EncoderDecoder:
    torch.manual_seed(0)
    return EncoderDecoder(
        backbone=BACKBONE_3,
        decode_head=dict(type="DeepLabV3PlusHead", num_classes=C, channels=16, low_level_channels=8),
        auxiliary_head=AUX if aux else None, ohem=ohem, align_corners=True,
        data_preprocessor=dict(type="ImgDataPreprocessor", mean=[127.5] * 3, std=[127.5] * 3),
    )


def test_aux_head_layers_and_output_shape():
    head = FCNAuxHead(in_channels=12, num_classes=5, channels=6, in_index=1)
    assert [type(m) for m in head.conv] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Dropout2d]
    assert head.conv[0].kernel_size == (3, 3) and head.conv[0].bias is not None and head.conv[3].p == 0.1
    assert head.classifier.kernel_size == (1, 1) and head.loss_weight == 0.4
    feats = [torch.rand(2, 4, 9, 11), torch.rand(2, 12, 5, 7), torch.rand(2, 8, 3, 4)]
    assert head(feats).shape == (2, 5, 5, 7)
    assert head(feats[1]).shape == (2, 5, 5, 7)
    with pytest.raises(ValueError, match="12"):
        head([feats[0], feats[0]])


def test_encoder_decoder_fills_aux_channels_and_checks_the_tap():
    model = tiny(aux=True)
    assert model.auxiliary_head.in_channels == model.backbone.out_channels[1]
    assert model.auxiliary_head.num_classes == C
    with pytest.raises(ValueError, match="taps"):
        EncoderDecoder(backbone=dict(type="TimmSegBackbone", model_name="tf_efficientnet_lite0"),
                       decode_head=dict(type="DeepLabV3PlusHead", num_classes=C, channels=8, low_level_channels=4),
                       auxiliary_head=dict(type="FCNAuxHead", in_index=2))


@pytest.mark.parametrize("ohem", [None, dict(thresh=0.7, min_kept=500)])
def test_aux_loss_only_when_configured_and_weighted(ohem):
    with_aux, without = tiny(aux=True, ohem=ohem).train(), tiny(aux=False, ohem=ohem).train()
    without.load_state_dict({k: v for k, v in with_aux.state_dict().items() if not k.startswith("auxiliary_head")})
    data = with_aux.data_preprocessor(_toy_batch(), True)
    torch.manual_seed(1)
    losses = with_aux.loss(**data)
    torch.manual_seed(1)
    plain = without.loss(**data)
    assert set(plain) == {"loss_ce", "acc_seg"} and set(losses) == {"loss_ce", "acc_seg", "loss_aux"}
    torch.testing.assert_close(losses["loss_ce"], plain["loss_ce"])  # the main loss is unchanged
    # by hand, replaying the train-mode pass with the same seed (dropout draws: decode head, then aux head):
    # 0.4 x the same criterion on the aux logits upsampled (bilinear, align_corners=True) to the labels
    torch.manual_seed(1)
    feats = with_aux.extract_feat(data["inputs"])
    with_aux.decode_head(feats)
    aux = with_aux.auxiliary_head(feats)
    assert aux.shape[-2:] == feats[1].shape[-2:]
    aux = F.interpolate(aux, size=data["inputs"].shape[-2:], mode="bilinear", align_corners=True)
    target = with_aux.stack_gt(data["data_samples"], data["inputs"].shape[-2:])
    criterion = F.cross_entropy(aux, target, ignore_index=255) if ohem is None else ohem_cross_entropy(
        aux, target, 255, **ohem)
    torch.testing.assert_close(losses["loss_aux"], 0.4 * criterion)
    assert losses["loss_aux"].requires_grad


def test_inference_and_export_path_ignore_the_aux_head():
    with_aux, without = tiny(aux=True).eval(), tiny(aux=False).eval()
    without.load_state_dict({k: v for k, v in with_aux.state_dict().items() if not k.startswith("auxiliary_head")})
    x = torch.randn(2, 3, 48, 50)
    with torch.no_grad():
        torch.testing.assert_close(with_aux(x, mode="tensor"), without(x, mode="tensor"), rtol=0, atol=0)
        a = with_aux.predict(x)[0].seg_logits
        b = without.predict(x)[0].seg_logits
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    from gen3d.deploy.segmentation_wrapper import SegmentationEnd2End
    with torch.no_grad():
        out = SegmentationEnd2End(with_aux)(torch.randint(0, 256, (1, 48, 50, 3), dtype=torch.uint8))  # NHWC
    assert out.shape[1] == C


def _student(aux: bool) -> dict:
    cfg = dict(STUDENT, backbone=dict(STUDENT["backbone"], out_indices=(1, 3, 4)))
    return dict(cfg, auxiliary_head=AUX) if aux else cfg


def test_teacher_student_supervised_losses_get_the_aux_term_and_teacher_copies_it():
    torch.manual_seed(0)
    model = MeanTeacher(**_student(True), iters_per_epoch=2).train()
    assert model.teacher.auxiliary_head is not None  # structural copy: EMA zips the parameters of both
    assert [n for n, _ in model.teacher.named_parameters()] == [n for n, _ in model.student.named_parameters()]
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=4)
    assert {"loss_sup", "loss_aux", "loss_unsup"} <= set(losses)
    torch.manual_seed(0)
    plain = MeanTeacher(**_student(False), iters_per_epoch=2).train()
    assert "loss_aux" not in plain.compute_losses(plain.preprocess_batch(make_batch()), iteration=4)


@pytest.mark.parametrize("iteration", [0, 4])  # warm-up (sup_only_epochs=1) and the semi-supervised step
def test_u2pl_aux_loss_on_labeled_images(iteration):
    torch.manual_seed(0)
    model = U2PL(**_student(True), iters_per_epoch=2).train()
    losses = model.compute_losses(model.preprocess_batch(make_batch()), iteration=iteration)
    assert "loss_aux" in losses and losses["loss_aux"].requires_grad
    torch.manual_seed(0)
    plain = U2PL(**_student(False), iters_per_epoch=2).train()
    assert "loss_aux" not in plain.compute_losses(plain.preprocess_batch(make_batch()), iteration=iteration)


def test_u2pl_train_step_with_aux_head_updates_it_and_the_teacher_copy():
    torch.manual_seed(0)
    model = U2PL(**_student(True), iters_per_epoch=2, sup_only_epochs=0).train()
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.1))
    before = [p.clone() for p in model.student.auxiliary_head.parameters()]
    teacher_before = [p.clone() for p in model.teacher.auxiliary_head.parameters()]
    for it in range(3):  # copy epoch (it 0, 1) then an EMA step
        log = model.train_step_at(make_batch(seed=it), optim, it)
    assert torch.isfinite(log["loss"]) and "loss_aux" in log
    assert any(not torch.equal(a, b) for a, b in zip(before, model.student.auxiliary_head.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(teacher_before, model.teacher.auxiliary_head.parameters()))
