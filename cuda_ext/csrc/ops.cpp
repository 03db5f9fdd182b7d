// The deformviz operator library: schemas of the `deformviz` torch.library namespace, and the
// Python module object `deformviz._C` that loading the library needs. Kernels register their
// implementations per device in cpu/ and cuda/; autograd and fake (meta) kernels are registered
// from Python (deformviz/ops/_registration.py).
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(deformviz, m) {
  m.def(
      "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor? mask, Tensor? bias, "
      "int stride_h, int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w) -> Tensor");
  m.def(
      "_deform_conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor offset, "
      "Tensor? mask, Tensor? bias, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "deform_roi_pool(Tensor input, Tensor rois, Tensor? offset, int pooled_h, int pooled_w, "
      "float spatial_scale, int sampling_ratio, float gamma) -> Tensor");
  m.def(
      "_deform_roi_pool_backward(Tensor grad_output, Tensor input, Tensor rois, Tensor? offset, "
      "int pooled_h, int pooled_w, float spatial_scale, int sampling_ratio, float gamma) "
      "-> (Tensor, Tensor)");
}

extern "C" {
// Importing deformviz._C loads this shared library, which runs the registrations above. The
// module itself only reports whether CUDA kernels were compiled in.
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  PyObject* m = PyModule_Create(&module);
  if (m == nullptr) return nullptr;
#ifdef WITH_CUDA
  const long with_cuda = 1;
#else
  const long with_cuda = 0;
#endif
  if (PyModule_AddIntConstant(m, "WITH_CUDA", with_cuda) != 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
}
