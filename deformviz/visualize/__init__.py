"""The Python API behind the command line: images in, sampling geometry out, in original pixels.

    from deformviz.models.registry import load_model
    from deformviz.visualize import sample_locations, roi_bins, save_data
    from deformviz.plotting import plot_sampling, plot_rois, save_figure

    model = load_model()                                        # or load_checkpoint(path)
    result = sample_locations(model, "samples/chelsea.jpg", auto=3, levels=3)
    save_figure(plot_sampling(result), "chelsea.pdf", width="cvpr-text")
    save_data(result, "chelsea.json")

- `sample_locations`: 9 / 81 / 729 sampling points of chosen units (paper Fig. 6).
- `roi_bins`: regular and deformed RoI bins of boxes, with the head's class (paper Fig. 7).
- `auto_units`, `grid_units`, `unit_at`: which units to show.
- `save_data`: results as JSON or NPZ.
"""

from .boxes import check_boxes, read_boxes_file
from .export import result_to_dict, save_data
from .results import (BoxBins, Detection, LayerInfo, RoIResult, SamplingResult, Unit,
                      UnitSampling)
from .rois import roi_bins, rois_from_capture
from .headless_units import headless_units, sampling_spread
from .probed import ProbedImage, probe_image
from .sampling import sample_locations, sample_units
from .units import auto_units, grid_units, unit_at

__all__ = [
    "BoxBins", "Detection", "LayerInfo", "ProbedImage", "RoIResult", "SamplingResult", "Unit",
    "UnitSampling", "auto_units", "check_boxes", "grid_units", "headless_units", "probe_image",
    "read_boxes_file", "result_to_dict", "roi_bins", "rois_from_capture", "sample_locations",
    "sample_units", "sampling_spread", "save_data", "unit_at",
]
