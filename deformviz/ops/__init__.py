"""deformviz's operators: deformable convolution, deformable RoI pooling and DCNv3/DCNv4.

`DeformConv2d(input, offset, mask)` takes its offsets, as torchvision's; `DeformConv2dPack`
predicts its own (an offset conv), as mmcv's.

Compiled C++/CUDA kernels (deformviz._C, from cuda_ext/) when they load; otherwise a pure-PyTorch
reference, with a warning. `operator_backend(device)` says which one a device gets.
"""

from ._extension import compiled_library, operator_backend

if compiled_library() is not None:
    from . import _registration  # noqa: F401  (registers fake kernels and autograd)
    from . import _dcnv3_registration  # noqa: F401  (the same for dcnv3)

from .column_budget import column_budget, set_column_budget
from .cpu_vector_path import CPU_VECTOR_PATHS, cpu_vector_path, set_cpu_vector_path, use_cpu_vector_path
from .dcnv3 import dcnv3
from .dcnv4_layout import dcnv4, split_dcnv4_offset_mask
from .deform_conv2d import DeformConv2d, DeformConv2dPack, deform_conv2d
from .deform_roi_pool import DeformRoIPool, deform_roi_pool

__all__ = ["deform_conv2d", "DeformConv2d", "DeformConv2dPack", "deform_roi_pool", "DeformRoIPool",
           "operator_backend", "column_budget", "set_column_budget", "CPU_VECTOR_PATHS",
           "cpu_vector_path", "set_cpu_vector_path", "use_cpu_vector_path", "dcnv3", "dcnv4",
           "split_dcnv4_offset_mask"]
