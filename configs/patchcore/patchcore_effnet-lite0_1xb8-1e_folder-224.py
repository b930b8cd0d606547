# PatchCore on your own product images in the folder layout (see configs/_base_/datasets/folder-224.py); the model,
# fitting and evaluation of patchcore_effnet-lite0_1xb8-1e_mvtec-224.py.
_base_ = ['./patchcore_effnet-lite0_1xb8-1e_mvtec-224.py']
data_root = 'data/my_products'
train_dataloader = dict(dataset=dict(type='FolderDataset', data_root=data_root))
val_dataloader = dict(dataset=dict(type='FolderDataset', data_root=data_root))
test_dataloader = dict(dataset=dict(type='FolderDataset', data_root=data_root))
