// dcnv3 on CUDA: argument checks (../dcnv3.h), then the kernels of dcnv3_kernels.cu.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "../dcnv3.h"
#include "deformviz/dcnv3_launchers.h"
#include "glue.h"

namespace deformviz::cuda {
namespace {

at::Tensor dcnv3_forward_cuda(const at::Tensor& input_, const at::Tensor& offset_,
                              const at::Tensor& mask_, int64_t kernel_h, int64_t kernel_w,
                              int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                              int64_t dilation_h, int64_t dilation_w, int64_t groups,
                              double offset_scale) {
  const Dcnv3Shape s = detail::check_dcnv3(input_, offset_, mask_, kernel_h, kernel_w, stride_h,
                                           stride_w, pad_h, pad_w, dilation_h, dilation_w, groups,
                                           offset_scale);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.contiguous();
  at::Tensor output = at::empty({s.batch, s.out_h, s.out_w, s.channels}, input.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "dcnv3_cuda", [&] {
    check_launch(dcnv3_forward(s, device_data<scalar_t>(input), device_data<scalar_t>(offset),
                               device_data<scalar_t>(mask), device_mutable_data<scalar_t>(output),
                               current_stream(input)),
                 "dcnv3_forward");
  });
  return output;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> dcnv3_backward_cuda(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& offset_,
    const at::Tensor& mask_, int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
    int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h, int64_t dilation_w,
    int64_t groups, double offset_scale) {
  const Dcnv3Shape s = detail::check_dcnv3(input_, offset_, mask_, kernel_h, kernel_w, stride_h,
                                           stride_w, pad_h, pad_w, dilation_h, dilation_w, groups,
                                           offset_scale);
  detail::check_dcnv3_grad_output(s, grad_output_);
  // Threads add into shared pixels and points with atomics: the summation order varies.
  at::globalContext().alertNotDeterministic("deformviz::_dcnv3_backward (CUDA)");
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor grad_output = grad_output_.to(input_.scalar_type()).contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor offset = offset_.contiguous();
  const at::Tensor mask = mask_.contiguous();
  const auto op_math = input.options().dtype(at::toOpMathType(input.scalar_type()));
  at::Tensor grad_input = at::zeros(input.sizes(), op_math);
  at::Tensor grad_offset = at::zeros(offset.sizes(), offset.options());
  at::Tensor grad_mask = at::zeros(mask.sizes(), mask.options());
  at::Tensor offset_buffer = accumulation_buffer(grad_offset);
  at::Tensor mask_buffer = accumulation_buffer(grad_mask);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "dcnv3_backward_cuda", [&] {
    using Device = typename DeviceType<scalar_t>::type;
    using Accumulate = typename AccumulateType<Device>::type;
    check_launch(dcnv3_backward(s, device_data<scalar_t>(grad_output),
                                device_data<scalar_t>(input), device_data<scalar_t>(offset),
                                device_data<scalar_t>(mask), grad_input.data_ptr<Accumulate>(),
                                offset_buffer.data_ptr<Accumulate>(),
                                mask_buffer.data_ptr<Accumulate>(), current_stream(input)),
                 "dcnv3_backward");
  });
  finish_accumulation(grad_offset, offset_buffer);
  finish_accumulation(grad_mask, mask_buffer);
  return {grad_input.to(input.scalar_type()), grad_offset, grad_mask};
}

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, CUDA, m) {
  m.impl("dcnv3", &dcnv3_forward_cuda);
  m.impl("_dcnv3_backward", &dcnv3_backward_cuda);
}

}  // namespace deformviz::cuda
