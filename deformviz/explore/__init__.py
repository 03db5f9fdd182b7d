"""One self-contained web page to find the units worth a figure (`deformviz explore`).

    from deformviz.models.registry import load_model
    from deformviz.explore import describe_image, write_page

    model = load_model()
    data = describe_image(model, "samples/chelsea.jpg", image_argument="samples/chelsea.jpg")
    write_page(data, "chelsea_explore.html")     # open it in a browser, from disk

- `description`: the page's data (`ExploreData`): image, chain of deformable layers with their
  offset maps and grids, detections and RoI bins, the `deformviz sample` command line.
- `build`: any network `deformviz sample` takes + image -> `ExploreData` (one probed pass).
- `page`: `ExploreData` -> one HTML file; the page computes every unit's sampling points in
  JavaScript (`assets/explore.js`) with the same geometry as `deformviz.geometry`.
- Deformable-attention networks (Deformable DETR family): `attention_build`
  (`describe_attention_image`) -> `attention_description` (`AttentionExploreData`: the
  detections' decoder queries and one encoder layer's cells, points already in original
  pixels) -> the same `write_page` (`assets/explore_attention.js` draws them).
"""

from .attention_build import describe_attention_image
from .attention_description import AttentionExploreData
from .build import describe_image, image_data_uri
from .description import ExploreBox, ExploreData, ExploreLayer, SampleCommand
from .page import render_page, write_page

__all__ = ["AttentionExploreData", "ExploreBox", "ExploreData", "ExploreLayer", "SampleCommand",
           "describe_attention_image", "describe_image", "image_data_uri", "render_page",
           "write_page"]
