"""Tests for the pretrained EfficientNet-Lite0 stride-16 trunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from deformviz.models.efficientnet_lite import (
    TRUNK_WEIGHTS_PATH,
    EfficientNetLite0Trunk,
    load_imagenet_trunk,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture(scope="module")
def trunk() -> EfficientNetLite0Trunk:
    return load_imagenet_trunk().eval()


def photo(name: str, box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)) -> Tensor:
    """samples/<name>.jpg cropped to `box` (fractions left, top, right, bottom), resized to
    224 x 224, as RGB in [0, 1], shape [1, 3, 224, 224]."""
    image = Image.open(SAMPLES / f"{name}.jpg").convert("RGB")
    w, h = image.size
    image = image.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
    array = np.asarray(image.resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def test_shipped_weights_load_as_float32() -> None:
    stored = torch.load(TRUNK_WEIGHTS_PATH, map_location="cpu", weights_only=True)
    trunk = load_imagenet_trunk()
    state = trunk.state_dict()
    assert stored.keys() == state.keys()
    for key, value in stored.items():
        if value.is_floating_point():
            assert value.dtype == torch.float16
            assert state[key].dtype == torch.float32
            torch.testing.assert_close(state[key], value.float(), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("height", "width"),
    [
        (224, 224),
        (64, 96),
        # Not multiples of 16: every stride-2 layer rounds up (TF 'SAME'), so the map has
        # ceil(H / 16) x ceil(W / 16) cells and the last row/column overhangs the image.
        (100, 75),
        (17, 33),
    ],
)
def test_output_shape_is_ceil_of_size_over_stride(trunk: EfficientNetLite0Trunk, height: int, width: int) -> None:
    assert trunk.stride == 16 and trunk.out_channels == 112
    with torch.no_grad():
        features = trunk(torch.zeros(1, 3, height, width))
    assert features.shape == (1, 112, -(-height // 16), -(-width // 16))


@pytest.mark.parametrize(("size", "offset"), [(368, 15.0), (384, 15.0), (369, 0.0), (372, 3.0)])
def test_cell_centers_match_receptive_fields(monkeypatch: pytest.MonkeyPatch, size: int, offset: float) -> None:
    """Cell i is centred on input pixel stride * i + cell_center_offset(size).

    With ReLU6 replaced by the identity, a random-weight trunk is linear, so the input pixels
    with a non-zero gradient are exactly the receptive field of a cell (339 px for this
    trunk), and their middle is the cell's centre. Only the height is tested; a width of 1
    keeps it fast.
    """
    monkeypatch.setattr(F, "relu6", lambda x: x)
    torch.manual_seed(0)
    trunk = EfficientNetLite0Trunk().eval()
    assert trunk.cell_center_offset(size) == offset == (size - 1) % 16
    row = 11  # the whole receptive field (centre +- 169 px) lies inside the image
    image = torch.zeros(1, 3, size, 1, requires_grad=True)
    trunk(image)[0, :, row, 0].sum().backward()
    rows = image.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    first, last = int(rows.min()), int(rows.max())
    assert last - first + 1 == 339
    assert (first + last) / 2 == trunk.stride * row + offset


def test_eval_mode_is_deterministic(trunk: EfficientNetLite0Trunk) -> None:
    x = trunk.normalize(photo("chelsea"))
    with torch.no_grad():
        first, second = trunk(x), trunk(x)
        batched = trunk(torch.cat([x, x.flip(-1)]))
    assert torch.equal(first, second)
    # Eval-mode batch norm uses running statistics: batch neighbours change nothing.
    torch.testing.assert_close(batched[:1], first, rtol=1e-4, atol=1e-4)


def test_features_tell_a_cat_from_a_coffee_cup(trunk: EfficientNetLite0Trunk) -> None:
    """Two overlapping crops of the cat are far more alike than the cat and the cup.

    With random weights all three cosine similarities are above 0.99; with the ImageNet
    weights the crops give about 0.95 and cat vs cup about 0.5.
    """

    def pooled(image: Tensor) -> Tensor:
        with torch.no_grad():
            return trunk(trunk.normalize(image)).mean(dim=(2, 3))[0]

    cat_left = pooled(photo("chelsea", (0.0, 0.0, 0.8, 1.0)))
    cat_right = pooled(photo("chelsea", (0.2, 0.0, 1.0, 1.0)))
    cup = pooled(photo("coffee"))
    same = F.cosine_similarity(cat_left, cat_right, dim=0)
    different = torch.minimum(F.cosine_similarity(cat_left, cup, dim=0), F.cosine_similarity(cat_right, cup, dim=0))
    assert same > 0.85
    assert different < 0.75
    assert same - different > 0.2
