"""The offline Lite0 ImageNet weights classify real photographs correctly after the key conversion."""

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from gen3d.utils.lite0_weights import lite0_weights_path, load_lite0_imagenet, lukemelas_to_timm

skimage_data = pytest.importorskip("skimage.data")

CAT_CLASSES = (281, 282, 285, 287)  # tabby, tiger cat, Egyptian cat, lynx
ESPRESSO = 967


@pytest.fixture(scope="module")
def lite0():
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    return load_lite0_imagenet(model).eval()


def _classify(model: torch.nn.Module, image: np.ndarray) -> torch.Tensor:
    # timm's pretrained_cfg preprocessing: shorter side to 224 / 0.875 (bicubic), centre crop 224, mean = std = 0.5.
    cfg = timm.data.resolve_data_config({}, model=model)
    assert cfg["mean"] == (0.5, 0.5, 0.5) and cfg["std"] == (0.5, 0.5, 0.5) and cfg["crop_pct"] == 0.875
    transform = timm.data.create_transform(**cfg)
    x = transform(Image.fromarray(image)).unsqueeze(0)
    with torch.no_grad():
        return model(x).softmax(dim=-1)[0]


def test_every_key_maps_onto_timm():
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    converted = lukemelas_to_timm(state, model)
    assert len(state) == len(converted) == len(model.state_dict()) == 296
    assert set(converted) == set(model.state_dict())


def test_coffee_is_espresso(lite0):
    probs = _classify(lite0, skimage_data.coffee())
    assert int(probs.argmax()) == ESPRESSO


def test_chelsea_is_a_cat(lite0):
    probs = _classify(lite0, skimage_data.chelsea())
    assert int(probs.argmax()) in CAT_CLASSES
    assert float(probs[list(CAT_CLASSES)].sum()) > 0.8
