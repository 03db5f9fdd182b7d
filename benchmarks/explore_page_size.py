"""Size of the `deformviz explore` page (the issue's limit: 5 MB for a 512 px image with the
bundled network), for the bundled network on the samples and for an 800 x 1216 image through a
ResNet-50 with DCN in c3-c5 (an mmdetection checkpoint in the published layout, real ResNet-50
widths, random weights: the page's size depends on the map sizes and the image, not on the
weights); and, with `--attention`, the deformable-attention page of a Deformable DETR R-50
architecture (transformers' classes, random weights: tools/make_attention_gallery.py's folder)
for an 800 x 1066 photo, with the default encoder levels and with every level.

Usage: python benchmarks/explore_page_size.py [--attention]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _size(data) -> str:
    from deformviz.explore import render_page

    page = render_page(data)
    return f"{len(page) / 1e6:.2f} MB (image {len(data.image_uri) / 1e6:.2f} MB)"


def attention_rows() -> None:
    """The attention page: default encoder levels, then every level (one forward pass each)."""
    import numpy as np
    import torch
    from PIL import Image

    from deformviz.explore import describe_attention_image
    from deformviz.imaging import LoadedImage
    from deformviz.networks import load_network

    sys.path.insert(0, str(ROOT / "tools"))
    from make_attention_gallery import write_folder

    torch.set_num_threads(2)
    photo = Image.open(ROOT / "samples" / "chelsea.jpg").convert("RGB").resize((1066, 800))
    image = LoadedImage(np.asarray(photo), "chelsea_1066x800.jpg")
    print("| image | network | encoder levels carried | page |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        write_folder(Path(folder))
        network = load_network(folder)
        for levels in (None, "all"):
            data = describe_attention_image(network, image, image_argument="photo.jpg",
                                            encoder_levels=levels, score_threshold=0.0)
            shapes = " / ".join(f"{h}x{w}" for h, w in (data.level_shapes[l]
                                                        for l in data.encoder.levels))
            print(f"| chelsea.jpg resized to 1066 x 800 | Deformable DETR R-50 (random "
                  f"weights); detections: {len(data.detections)}, decoder layers: "
                  f"{len(data.decoder)} | {', '.join(str(l + 1) for l in data.encoder.levels)} "
                  f"({shapes}) | {_size(data)} |")


def main() -> None:
    if "--attention" in sys.argv[1:]:
        attention_rows()
        return
    import numpy as np
    import torch
    from PIL import Image

    from deformviz.explore import describe_image
    from deformviz.imaging import LoadedImage, load_image
    from deformviz.models.registry import load_model
    from deformviz.networks import load_network
    from tests.networks.published_layouts import Layout, dcn_c3_c5, mmdetection_checkpoint

    torch.set_num_threads(2)
    bundled = load_model()
    print("| image | network | chain maps | page |\n|---|---|---|---|")
    for name in ("scene_001.png", "chelsea.jpg", "astronaut.jpg"):
        image = load_image(ROOT / "samples" / name)
        data = describe_image(bundled, image, image_argument=name)
        maps = " / ".join(f"{l.output_size[0]}x{l.output_size[1]}" for l in data.layers)
        print(f"| {name} ({image.size[1]} x {image.size[0]}) | bundled, --size 512 | {maps} | "
              f"{_size(data)} |")

    photo = Image.open(ROOT / "samples" / "chelsea.jpg").convert("RGB").resize((1216, 800))
    image = LoadedImage(np.asarray(photo), "chelsea_1216x800.jpg")
    for modulated in (False, True):
        layout = Layout(widths=(64, 128, 256, 512), outs=(256, 512, 1024, 2048), stem=64,
                        dcn=dcn_c3_c5(modulated=modulated))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "faster_rcnn_r50_fpn_dconv_c3-c5.pth"
            torch.save(mmdetection_checkpoint(layout), path)
            network = load_network(path)
            data = describe_image(network, image, image_argument="photo.jpg")
        maps = " / ".join(f"{l.output_size[0]}x{l.output_size[1]}" for l in data.layers)
        kind = "DCNv2" if modulated else "DCN"
        print(f"| chelsea.jpg resized to 1216 x 800 | ResNet-50 {kind} c3-c5 (mmdetection), "
              f"res5a-c | {maps} | {_size(data)} |")
        chain = [name for name in network.deformable_layers
                 if name.startswith("layer3.") or ".layer3." in name][-3:]
        data = describe_image(network, image, image_argument="photo.jpg", layers=chain)
        maps = " / ".join(f"{l.output_size[0]}x{l.output_size[1]}" for l in data.layers)
        print(f"| chelsea.jpg resized to 1216 x 800 | ResNet-50 {kind} c3-c5 (mmdetection), "
              f"res4d-f | {maps} | {_size(data)} |")


if __name__ == "__main__":
    main()
