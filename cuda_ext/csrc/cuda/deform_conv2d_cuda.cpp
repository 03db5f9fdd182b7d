// deform_conv2d on CUDA: the device-agnostic orchestration (../deform_conv2d.h) with the CUDA
// kernels (deform_conv2d_kernels.cu) behind it.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../deform_conv2d.h"
#include "deformviz/cuda_launchers.h"
#include "glue.h"

namespace deformviz::cuda {
namespace {

struct CudaDeformConvKernels {
  static void im2col(const at::Tensor& input, const at::Tensor& offset, const at::Tensor& mask,
                     const DeformConvShape& s, at::Tensor& columns) {
    const c10::cuda::CUDAGuard guard(input.device());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "deform_conv2d_im2col_cuda", [&] {
      check_launch(deformable_im2col(s, device_data<scalar_t>(input), device_data<scalar_t>(offset),
                                     device_data<scalar_t>(mask),
                                     device_mutable_data<scalar_t>(columns), current_stream(input)),
                   "deformable_im2col");
    });
  }

  static void col2im(const at::Tensor& grad_columns, const at::Tensor& offset,
                     const at::Tensor& mask, const DeformConvShape& s, at::Tensor& grad_input) {
    // Threads add into shared pixels with atomics: the summation order varies from run to run.
    at::globalContext().alertNotDeterministic("deformviz::_deform_conv2d_backward (CUDA)");
    const c10::cuda::CUDAGuard guard(grad_columns.device());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_columns.scalar_type(),
                                    "deform_conv2d_col2im_cuda", [&] {
      using Device = typename DeviceType<scalar_t>::type;
      check_launch(deformable_col2im(s, device_data<scalar_t>(grad_columns),
                                     device_data<scalar_t>(offset), device_data<scalar_t>(mask),
                                     grad_input.data_ptr<Acc<Device>>(), current_stream(offset)),
                   "deformable_col2im");
    });
  }

  static void offset_mask_gradient(const at::Tensor& grad_columns, const at::Tensor& input,
                                   const at::Tensor& offset, const at::Tensor& mask,
                                   const DeformConvShape& s, at::Tensor& grad_offset,
                                   at::Tensor& grad_mask) {
    const c10::cuda::CUDAGuard guard(input.device());
    at::Tensor offset_buffer = accumulation_buffer(grad_offset);
    at::Tensor mask_buffer = s.has_mask ? accumulation_buffer(grad_mask) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "deform_conv2d_offset_grad_cuda", [&] {
      using Device = typename DeviceType<scalar_t>::type;
      check_launch(deformable_offset_mask_gradient(
                       s, device_data<scalar_t>(grad_columns), device_data<scalar_t>(input),
                       device_data<scalar_t>(offset), device_data<scalar_t>(mask),
                       offset_buffer.data_ptr<Acc<Device>>(),
                       s.has_mask ? mask_buffer.data_ptr<Acc<Device>>() : nullptr,
                       current_stream(input)),
                   "deformable_offset_mask_gradient");
    });
    finish_accumulation(grad_offset, offset_buffer);
    if (s.has_mask) finish_accumulation(grad_mask, mask_buffer);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CUDA, m) {
  m.impl("deform_conv2d", &::deformviz::deform_conv2d_forward<CudaDeformConvKernels>);
  m.impl("_deform_conv2d_backward", &::deformviz::deform_conv2d_backward<CudaDeformConvKernels>);
}

}  // namespace deformviz::cuda
