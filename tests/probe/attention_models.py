"""Small random Hugging Face DETR-family models built from configs in code (no downloads),
and a padded two-image batch for them."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

# A ResNet backbone from transformers' own config class (no timm, no hub): strides 4 (stem),
# then 8, 16, 32 for stages 2..4; levels are stage2..stage4 plus one stride-2 conv on top.
BACKBONE_STRIDES = (8, 16, 32, 64)


def _resnet_backbone(stages: tuple[str, ...] = ("stage2", "stage3", "stage4")
                     ) -> "transformers.ResNetConfig":
    return transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64],
                                     depths=[1, 1, 1, 1], layer_type="basic",
                                     out_features=list(stages))


def deformable_detr(box_refine: bool = False, two_stage: bool = False, seed: int = 0):
    """DeformableDetrForObjectDetection, d_model 32, 2 heads, 4 levels x 4 points, 2 + 2
    layers, 12 queries; float64, eval mode."""
    config = transformers.DeformableDetrConfig(
        backbone_config=_resnet_backbone(), d_model=32, encoder_layers=2, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=12, num_labels=3, with_box_refine=box_refine,
        two_stage=two_stage, two_stage_num_proposals=12)
    return _seeded(transformers.DeformableDetrForObjectDetection, config, seed)


def rt_detr(version: int = 1, seed: int = 0):
    """RTDetrForObjectDetection (or v2), d_model 32, 3 levels, 2 decoder layers; float64."""
    backbone = transformers.RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage2", "stage3", "stage4"])
    common = dict(backbone_config=backbone, encoder_in_channels=[16, 32, 64],
                  encoder_hidden_dim=32, encoder_ffn_dim=32, encoder_attention_heads=2, d_model=32,
                  decoder_in_channels=[32, 32, 32], decoder_ffn_dim=32, decoder_layers=2,
                  decoder_attention_heads=2, num_queries=12, num_labels=3, num_denoising=0)
    torch.manual_seed(seed)
    if version == 1:
        model = transformers.RTDetrForObjectDetection(transformers.RTDetrConfig(**common))
    else:
        model = transformers.RTDetrV2ForObjectDetection(transformers.RTDetrV2Config(**common))
    _spread_offsets(model)
    return model.double().eval()


def grounding_dino(seed: int = 0, mm: bool = False):
    """GroundingDinoForObjectDetection (MMGroundingDinoForObjectDetection with `mm`) with a
    one-layer BERT text encoder (vocabulary 100), d_model 32, 4 levels x 4 points, 1 encoder +
    2 decoder layers, 10 queries; float64. Its inputs need `input_ids` beside the pixels."""
    text = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32)
    prefix = "MMGroundingDino" if mm else "GroundingDino"
    config = getattr(transformers, f"{prefix}Config")(
        backbone_config=_resnet_backbone(), text_config=text, d_model=32, encoder_layers=1,
        decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2,
        decoder_attention_heads=2, num_queries=10, max_text_len=16)
    return _seeded(getattr(transformers, f"{prefix}ForObjectDetection"), config, seed)


def d_fine(points: int | list[int] = 4, seed: int = 0, prefix: str = "DFine"):
    """DFineForObjectDetection (or, with prefix "Deimv2", DEIMv2's), d_model 32, 3 levels with
    `points` per level (D-FINE's published configurations use [3, 6, 3]), 2 decoder layers;
    float64."""
    backbone = transformers.RTDetrResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage2", "stage3", "stage4"])
    config = getattr(transformers, f"{prefix}Config")(
        backbone_config=backbone, encoder_in_channels=[16, 32, 64], encoder_hidden_dim=32,
        encoder_ffn_dim=32, encoder_attention_heads=2, d_model=32,
        decoder_in_channels=[32, 32, 32], decoder_ffn_dim=32, decoder_layers=2,
        decoder_attention_heads=2, num_queries=12, num_labels=3, num_denoising=0,
        decoder_n_points=points)
    return _seeded(getattr(transformers, f"{prefix}ForObjectDetection"), config, seed)


def _seeded(model_class, config, seed: int):  # noqa: ANN001, ANN202 - transformers types
    """`model_class(config)` with seeded weights and spread offsets, float64, eval mode."""
    torch.manual_seed(seed)
    model = model_class(config)
    _spread_offsets(model)
    return model.double().eval()


def _spread_offsets(model: torch.nn.Module) -> None:
    """Random offsets and weights large enough to matter (the library's init makes the
    attention weights uniform and the offsets a fixed pattern)."""
    generator = torch.Generator().manual_seed(1)
    for name, parameter in model.named_parameters():
        if ".sampling_offsets." in name or ".attention_weights." in name:
            with torch.no_grad():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)


def padded_batch(height: int = 96, width: int = 128) -> dict[str, torch.Tensor]:
    """Two images in one padded batch: the first fills it, the second is 70 x 100 (padding
    right and below), so its valid ratios are below 1."""
    generator = torch.Generator().manual_seed(2)
    pixels = torch.rand(2, 3, height, width, generator=generator, dtype=torch.float64)
    mask = torch.ones(2, height, width, dtype=torch.long)
    mask[1, 70:, :] = 0
    mask[1, :, 100:] = 0
    pixels[1, :, 70:, :] = 0
    pixels[1, :, :, 100:] = 0
    return {"pixel_values": pixels, "pixel_mask": mask}


def oneformer(seed: int = 0):
    """OneFormerForUniversalSegmentation with the small ResNet backbone and a one-layer text
    encoder (vocabulary 100), pixel decoder of 2 deformable encoder layers over 3 levels;
    float64. Its inputs need `task_inputs` ([B, 8] token ids) beside the pixels."""
    backbone = _resnet_backbone(("stage1", "stage2", "stage3", "stage4"))
    config = transformers.OneFormerConfig(
        backbone_config=backbone, hidden_dim=32, encoder_feedforward_dim=32, encoder_layers=2,
        decoder_layers=2, num_attention_heads=2, num_queries=10, dim_feedforward=32,
        num_labels=3, mask_dim=32, conv_dim=32, text_encoder_width=32,
        text_encoder_num_layers=1, text_encoder_vocab_size=100, text_encoder_context_length=8,
        task_seq_len=8, is_training=False)
    return _seeded(transformers.OneFormerForUniversalSegmentation, config, seed)


def mask2former(seed: int = 0):
    """Mask2FormerForUniversalSegmentation with the small ResNet backbone (transformers warns
    that it expects Swin; the pixel decoder's deformable encoder is the same), 2 encoder
    layers, 3 levels; float64."""
    backbone = _resnet_backbone(("stage1", "stage2", "stage3", "stage4"))
    config = transformers.Mask2FormerConfig(
        backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
        encoder_feedforward_dim=32, encoder_layers=2, decoder_layers=2, num_attention_heads=2,
        num_queries=10, dim_feedforward=32, num_labels=3)
    return _seeded(transformers.Mask2FormerForUniversalSegmentation, config, seed)
