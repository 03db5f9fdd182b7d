// The deformviz operator library: schemas of the `deformviz` torch.library namespace, and the
// Python module object `deformviz._C` that loading the library needs. Kernels register their
// implementations per device in cpu/ and cuda/; autograd and fake (meta) kernels are registered
// from Python (deformviz/ops/_registration.py).
#include <Python.h>
#include <torch/library.h>

#include "cpu/vector_path.h"
#include "deform_conv2d.h"

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
  m.def(
      "dcnv3(Tensor input, Tensor offset, Tensor mask, int kernel_h, int kernel_w, int stride_h, "
      "int stride_w, int pad_h, int pad_w, int dilation_h, int dilation_w, int groups, "
      "float offset_scale) -> Tensor");
  m.def(
      "_dcnv3_backward(Tensor grad_output, Tensor input, Tensor offset, Tensor mask, "
      "int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w, "
      "int dilation_h, int dilation_w, int groups, float offset_scale) -> (Tensor, Tensor, Tensor)");
}

namespace {

// _set_column_budget(bytes) -> the previous budget: the most bytes one column buffer of
// deform_conv2d may take, a CPU tile or a CUDA chunk (deformviz.ops.column_budget).
PyObject* set_column_budget(PyObject* /*module*/, PyObject* arg) {
  const long long bytes = PyLong_AsLongLong(arg);
  if (bytes == -1 && PyErr_Occurred()) return nullptr;
  if (bytes <= 0) {
    PyErr_SetString(PyExc_ValueError, "the column budget must be a positive number of bytes");
    return nullptr;
  }
  return PyLong_FromLongLong(deformviz::detail::column_budget_bytes().exchange(bytes));
}

// _cpu_vector_path(name or None) -> (path taken now, widest path of this CPU): asks the CPU
// channel loops for a vector path ("baseline", "avx2", "avx512"; cpu/vector_path.h).
PyObject* cpu_vector_path(PyObject* /*module*/, PyObject* arg) {
  using deformviz::cpu::VectorPath;
  if (arg != Py_None) {
    const char* name = PyUnicode_AsUTF8(arg);
    if (name == nullptr) return nullptr;
    VectorPath path;
    if (!deformviz::cpu::parse_vector_path(name, path)) {
      PyErr_Format(PyExc_ValueError, "unknown CPU vector path %R (baseline, avx2 or avx512)", arg);
      return nullptr;
    }
    deformviz::cpu::set_vector_path(path);
  }
  return Py_BuildValue("(ss)", deformviz::cpu::vector_path_name(deformviz::cpu::vector_path()),
                       deformviz::cpu::vector_path_name(deformviz::cpu::widest_vector_path()));
}

PyMethodDef methods[] = {
    {"_set_column_budget", set_column_budget, METH_O,
     "Sets deform_conv2d's column budget in bytes; returns the previous one."},
    {"_cpu_vector_path", cpu_vector_path, METH_O,
     "Asks for a CPU vector path (or None); returns (path taken, widest supported)."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

extern "C" {
// Importing deformviz._C loads this shared library, which runs the registrations above. The
// module reports whether CUDA kernels were compiled in, and sets the column budget.
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};
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
