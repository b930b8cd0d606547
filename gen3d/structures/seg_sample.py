"""The sample that flows through the segmentation pipeline: dataset -> model -> metric -> visualiser."""

from mmengine.structures import BaseDataElement


class SegDataSample(BaseDataElement):
    """One image of a semantic-segmentation dataset, with its ground truth and, after ``predict``, the prediction.

    Meta fields (set once by the dataset / transforms): ``img_path`` (str), ``seg_map_path`` (str or None),
    ``ori_shape`` (H0, W0) as read from disk, ``img_shape`` (H, W) after the geometric transforms, ``flip``
    (bool), ``flip_direction`` (``'horizontal'`` or None), ``labeled`` (bool: False for the unlabeled stream of
    semi-supervised training, whose samples carry no ``gt_sem_seg``), ``ignore_index`` (int, 255) and
    ``reduce_zero_label`` (bool).

    Data fields:
        gt_sem_seg: ``(H, W)`` ``torch.long`` class ids in ``[0, C)``, ``ignore_index`` (255) for pixels that
            are unlabeled, void or padding.
        pred_sem_seg: ``(H, W)`` ``torch.long`` predicted class ids (at ``ori_shape`` after ``predict``).
        seg_logits: ``(C, H, W)`` float, the logits behind ``pred_sem_seg``.
    """
