# PASCAL VOC 2012 aug, U2PL's blender 1/16 partition (662 labeled; data/splits/pascal/662/{labeled,unlabeled}.txt).
_base_ = ['./voc12aug-512.py']
split_root = 'data/splits/pascal/662'
train_dataloader = dict(dataset=dict(labeled=dict(split=split_root + '/labeled.txt'),
                                     unlabeled=dict(split=split_root + '/unlabeled.txt')))
