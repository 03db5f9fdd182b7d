"""deformviz's operators: deformable convolution and deformable RoI pooling.

`DeformConv2d(input, offset, mask)` takes its offsets, as torchvision's; `DeformConv2dPack`
predicts its own (an offset conv), as mmcv's.

Compiled C++/CUDA kernels (deformviz._C, from cuda_ext/) when they load; otherwise a pure-PyTorch
reference, with a warning. `operator_backend(device)` says which one a device gets.
"""

from ._extension import compiled_library, operator_backend

if compiled_library() is not None:
    from . import _registration  # noqa: F401  (registers fake kernels and autograd)

from .column_budget import column_budget, set_column_budget
from .deform_conv2d import DeformConv2d, DeformConv2dPack, deform_conv2d
from .deform_roi_pool import DeformRoIPool, deform_roi_pool

__all__ = ["deform_conv2d", "DeformConv2d", "DeformConv2dPack", "deform_roi_pool", "DeformRoIPool", "operator_backend",
           "column_budget", "set_column_budget"]
