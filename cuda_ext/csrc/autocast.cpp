// Autocast kernels of the operators, for the CPU and CUDA autocast keys.
//
// Under torch.autocast the layers around a deformable operator run in float16 or bfloat16, so
// its offsets, mask or input arrive in a lower precision than its weights. Like torchvision's
// operators, these kernels cast every floating-point argument to float32 (float64 when the input
// is float64), run the operator with autocast excluded, and return the result in the input's
// dtype. The casts are ordinary differentiable ops, so gradients flow back in each argument's
// own dtype. Computing natively in half precision would round every column entry and GEMM
// product to 11 (float16) or 8 (bfloat16) significant bits; in float32 the operator is as exact
// as the values it is given.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <optional>

namespace deformviz {
namespace {

at::ScalarType compute_type(const at::Tensor& input) {
  return input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

at::Tensor upcast(const at::Tensor& t, at::ScalarType type) {
  return t.is_floating_point() && t.scalar_type() != type ? t.to(type) : t;
}

std::optional<at::Tensor> upcast(const std::optional<at::Tensor>& t, at::ScalarType type) {
  return t.has_value() ? std::optional<at::Tensor>(upcast(*t, type)) : std::nullopt;
}

template <c10::DispatchKey AutocastKey>
at::Tensor deform_conv2d_autocast(const at::Tensor& input, const at::Tensor& weight,
                                  const at::Tensor& offset, const std::optional<at::Tensor>& mask,
                                  const std::optional<at::Tensor>& bias, int64_t stride_h,
                                  int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                  int64_t dilation_h, int64_t dilation_w) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(AutocastKey);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("deformviz::deform_conv2d", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, const std::optional<at::Tensor>&,
                                               const std::optional<at::Tensor>&, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t)>();
  const at::ScalarType type = compute_type(input);
  return op.call(upcast(input, type), upcast(weight, type), upcast(offset, type),
                 upcast(mask, type), upcast(bias, type), stride_h, stride_w, pad_h, pad_w,
                 dilation_h, dilation_w)
      .to(input.scalar_type());
}

template <c10::DispatchKey AutocastKey>
at::Tensor deform_roi_pool_autocast(const at::Tensor& input, const at::Tensor& rois,
                                    const std::optional<at::Tensor>& offset, int64_t pooled_h,
                                    int64_t pooled_w, double spatial_scale,
                                    int64_t sampling_ratio, double gamma) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(AutocastKey);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("deformviz::deform_roi_pool", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const std::optional<at::Tensor>&, int64_t, int64_t,
                                               double, int64_t, double)>();
  const at::ScalarType type = compute_type(input);
  return op.call(upcast(input, type), upcast(rois, type), upcast(offset, type), pooled_h,
                 pooled_w, spatial_scale, sampling_ratio, gamma)
      .to(input.scalar_type());
}

template <c10::DispatchKey AutocastKey>
at::Tensor dcnv3_autocast(const at::Tensor& input, const at::Tensor& offset,
                          const at::Tensor& mask, int64_t kernel_h, int64_t kernel_w,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                          int64_t dilation_h, int64_t dilation_w, int64_t groups,
                          double offset_scale) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(AutocastKey);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("deformviz::dcnv3", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                               const at::Tensor&, int64_t, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, int64_t,
                                               int64_t, double)>();
  const at::ScalarType type = compute_type(input);
  return op.call(upcast(input, type), upcast(offset, type), upcast(mask, type), kernel_h,
                 kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups,
                 offset_scale)
      .to(input.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(deformviz, AutocastCPU, m) {
  m.impl("deform_conv2d", &deform_conv2d_autocast<c10::DispatchKey::AutocastCPU>);
  m.impl("deform_roi_pool", &deform_roi_pool_autocast<c10::DispatchKey::AutocastCPU>);
  m.impl("dcnv3", &dcnv3_autocast<c10::DispatchKey::AutocastCPU>);
}

TORCH_LIBRARY_IMPL(deformviz, AutocastCUDA, m) {
  m.impl("deform_conv2d", &deform_conv2d_autocast<c10::DispatchKey::AutocastCUDA>);
  m.impl("deform_roi_pool", &deform_roi_pool_autocast<c10::DispatchKey::AutocastCUDA>);
  m.impl("dcnv3", &dcnv3_autocast<c10::DispatchKey::AutocastCUDA>);
}

}  // namespace deformviz
