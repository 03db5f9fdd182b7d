// deform_roi_pool on CUDA: the device-agnostic orchestration (../deform_roi_pool.h) with the CUDA
// kernels (deform_roi_pool_kernels.cu) behind it.
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../deform_roi_pool.h"
#include "deformviz/cuda_launchers.h"
#include "glue.h"

namespace deformviz::cuda {
namespace {

struct CudaDeformRoIPoolKernels {
  static void roi_pool_forward(const at::Tensor& input, const at::Tensor& rois,
                               const at::Tensor& offset, const DeformRoIPoolShape& s,
                               at::Tensor& output) {
    const c10::cuda::CUDAGuard guard(input.device());
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "deform_roi_pool_forward_cuda", [&] {
      check_launch(deform_roi_pool_forward(s, device_data<scalar_t>(input),
                                           device_data<scalar_t>(rois),
                                           device_data<scalar_t>(offset),
                                           device_mutable_data<scalar_t>(output),
                                           current_stream(input)),
                   "deform_roi_pool_forward");
    });
  }

  static void roi_pool_backward(const at::Tensor& grad_output, const at::Tensor& input,
                                const at::Tensor& rois, const at::Tensor& offset,
                                const DeformRoIPoolShape& s, at::Tensor& grad_input,
                                at::Tensor& grad_offset) {
    // Threads add into shared pixels with atomics: the summation order varies from run to run.
    at::globalContext().alertNotDeterministic("deformviz::_deform_roi_pool_backward (CUDA)");
    const c10::cuda::CUDAGuard guard(input.device());
    at::Tensor offset_buffer = s.has_offset ? accumulation_buffer(grad_offset) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "deform_roi_pool_backward_cuda", [&] {
      using Device = typename DeviceType<scalar_t>::type;
      check_launch(deform_roi_pool_backward(
                       s, device_data<scalar_t>(grad_output), device_data<scalar_t>(input),
                       device_data<scalar_t>(rois), device_data<scalar_t>(offset),
                       grad_input.data_ptr<Acc<Device>>(),
                       s.has_offset ? offset_buffer.data_ptr<Acc<Device>>() : nullptr,
                       current_stream(input)),
                   "deform_roi_pool_backward");
    });
    if (s.has_offset) finish_accumulation(grad_offset, offset_buffer);
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CUDA, m) {
  m.impl("deform_roi_pool", &::deformviz::deform_roi_pool_forward<CudaDeformRoIPoolKernels>);
  m.impl("_deform_roi_pool_backward", &::deformviz::deform_roi_pool_backward<CudaDeformRoIPoolKernels>);
}

}  // namespace deformviz::cuda
