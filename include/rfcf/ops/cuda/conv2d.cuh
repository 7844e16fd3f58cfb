#pragma once
// Conv2dOp<cuda>: 2-D convolution through cuDNN 9's convolution API (cudnnConvolution*; still
// shipped in cuDNN 9 and not flagged unless CUDNN_WARN_DEPRECATED is defined).
//
// T = float, double, or the 16-bit storage types rfcf::bfloat16 / rfcf::float16, which run with
// fp32 compute (CUDNN_DATA_FLOAT in the convolution descriptor) and tensor-op math; those are
// what MixedPrecision<cuda> (ops/cuda/mixed_precision.cuh) calls under Autocast.
//
// Algorithms are chosen once per (direction, dtype, shapes, geometry, math mode, search mode)
// and cached: the candidates come from cuDNN's heuristics (default, like PyTorch with
// cudnn.benchmark = False) or from timing runs (set_conv_algo_search(ConvAlgoSearch::exhaustive),
// like cudnn.benchmark = True). The first candidate whose workspace can be allocated and that
// cuDNN accepts under the requested math mode is kept. Workspaces come from Allocator<cuda>.
#include <cudnn.h>

#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/device.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/handles.cuh"
#include "rfcf/core/half.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/conv2d.hpp"

namespace rfcf::cuda_rt {

enum class ConvAlgoSearch { heuristic, exhaustive };
inline ConvAlgoSearch& conv_algo_search_flag() {
  static ConvAlgoSearch s = ConvAlgoSearch::heuristic;
  return s;
}
inline void set_conv_algo_search(ConvAlgoSearch s) { conv_algo_search_flag() = s; }
inline ConvAlgoSearch conv_algo_search() { return conv_algo_search_flag(); }

}  // namespace rfcf::cuda_rt

namespace rfcf::ops {

namespace cuda_conv {

template <class T>
constexpr cudnnDataType_t data_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || is_half_v<T>,
                "Conv2dOp<cuda> supports float, double, rfcf::bfloat16 and rfcf::float16");
  if constexpr (std::is_same_v<T, bfloat16>) return CUDNN_DATA_BFLOAT16;
  else if constexpr (std::is_same_v<T, float16>) return CUDNN_DATA_HALF;
  else return std::is_same_v<T, float> ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
}
// cuDNN's alpha/beta type: float for float and the 16-bit types, double for double.
template <class T>
using scale_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// The accumulation type of the convolution: fp32 for 16-bit data.
inline cudnnDataType_t compute_type(cudnnDataType_t type) {
  return type == CUDNN_DATA_BFLOAT16 || type == CUDNN_DATA_HALF ? CUDNN_DATA_FLOAT : type;
}

inline int to_int(int64_t v) {
  check<ShapeError>(v >= 0 && v <= INT_MAX, "Conv2dOp<cuda>: dimension ", v, " exceeds cuDNN's int range");
  return static_cast<int>(v);
}

// Throws a ShapeError/ConfigError naming the shapes unless x, w (and bias) fit the geometry.
inline void validate(const char* what, const Conv2dGeometry& g, const Shape& x, const Shape& w, const Shape* bias) {
  check<ConfigError>(g.kernel_h > 0 && g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 &&
                         g.pad_w >= 0 && g.dilation_h > 0 && g.dilation_w > 0 && g.groups > 0,
                     what, ": invalid geometry kernel ", g.kernel_h, "x", g.kernel_w, " stride ", g.stride_h, "x",
                     g.stride_w, " pad ", g.pad_h, "x", g.pad_w, " dilation ", g.dilation_h, "x", g.dilation_w,
                     " groups ", g.groups);
  check<ShapeError>(x.rank() == 4 && w.rank() == 4, what, ": expected NCHW input and [Cout, Cin/groups, kh, kw] ",
                    "weight, got ", x.str(), " and ", w.str());
  check<ShapeError>(x[1] % g.groups == 0 && w[0] % g.groups == 0 && w[1] * g.groups == x[1] &&
                        w[2] == g.kernel_h && w[3] == g.kernel_w,
                    what, ": weight ", w.str(), " does not fit input ", x.str(), " with groups ", g.groups,
                    " and kernel ", g.kernel_h, "x", g.kernel_w);
  check<ShapeError>(g.out_h(x[2]) > 0 && g.out_w(x[3]) > 0, what, ": input ", x.str(),
                    " is smaller than the dilated kernel");
  if (bias)
    check<ShapeError>(bias->rank() == 1 && (*bias)[0] == w[0], what, ": bias ", bias->str(), " does not match ",
                      w[0], " output channels");
}

// The four cuDNN descriptors of one convolution (RAII).
class Descriptors {
 public:
  Descriptors(cudnnDataType_t type, const Conv2dGeometry& g, const Shape& x, const Shape& w) {
    RFCF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
    RFCF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
    RFCF_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
    RFCF_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    RFCF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, CUDNN_TENSOR_NCHW, type, to_int(x[0]), to_int(x[1]),
                                                to_int(x[2]), to_int(x[3])));
    RFCF_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, type, CUDNN_TENSOR_NCHW, to_int(w[0]), to_int(w[1]),
                                                to_int(w[2]), to_int(w[3])));
    RFCF_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, to_int(g.pad_h), to_int(g.pad_w), to_int(g.stride_h),
                                                     to_int(g.stride_w), to_int(g.dilation_h),
                                                     to_int(g.dilation_w), CUDNN_CROSS_CORRELATION,
                                                     compute_type(type)));
    RFCF_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_, to_int(g.groups)));
    RFCF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, CUDNN_TENSOR_NCHW, type, to_int(x[0]), to_int(w[0]),
                                                to_int(g.out_h(x[2])), to_int(g.out_w(x[3]))));
  }
  ~Descriptors() {
    cudnnDestroyTensorDescriptor(x_);
    cudnnDestroyTensorDescriptor(y_);
    cudnnDestroyFilterDescriptor(w_);
    cudnnDestroyConvolutionDescriptor(conv_);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  cudnnTensorDescriptor_t x() const { return x_; }
  cudnnTensorDescriptor_t y() const { return y_; }
  cudnnFilterDescriptor_t w() const { return w_; }
  cudnnConvolutionDescriptor_t conv() const { return conv_; }

 private:
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
};

// A [1, C, 1, 1] (bias) descriptor.
class BiasDescriptor {
 public:
  BiasDescriptor(cudnnDataType_t type, int64_t c) {
    RFCF_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_));
    RFCF_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, type, 1, to_int(c), 1, 1));
  }
  ~BiasDescriptor() { cudnnDestroyTensorDescriptor(d_); }
  BiasDescriptor(const BiasDescriptor&) = delete;
  BiasDescriptor& operator=(const BiasDescriptor&) = delete;
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

// What the three directions differ in: the algorithm enum, the query calls and the call itself.
// `a`, `b` are the inputs and `out` the output of the direction:
//   forward: a = x, b = w, out = y;  backward data: a = w, b = dy, out = dx;
//   backward filter: a = x, b = dy, out = dw.
struct Forward {
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* name = "forward";
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x(), d.w(), d.conv(), d.y(), kCount, n, p);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnFindConvolutionForwardAlgorithm(h, d.x(), d.w(), d.conv(), d.y(), kCount, n, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x(), d.w(), d.conv(), d.y(), algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, Algo algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* beta, const void* a, const void* b, void* out) {
    return cudnnConvolutionForward(h, alpha, d.x(), a, d.w(), b, d.conv(), algo, ws, ws_bytes, beta, d.y(), out);
  }
};
struct BackwardData {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* name = "backward_data";
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w(), d.y(), d.conv(), d.x(), kCount, n, p);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnFindConvolutionBackwardDataAlgorithm(h, d.w(), d.y(), d.conv(), d.x(), kCount, n, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w(), d.y(), d.conv(), d.x(), algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, Algo algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* beta, const void* a, const void* b, void* out) {
    return cudnnConvolutionBackwardData(h, alpha, d.w(), a, d.y(), b, d.conv(), algo, ws, ws_bytes, beta, d.x(),
                                        out);
  }
};
struct BackwardFilter {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kCount = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* name = "backward_weight";
  static cudnnStatus_t heuristic(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x(), d.y(), d.conv(), d.w(), kCount, n, p);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const Descriptors& d, int* n, Perf* p) {
    return cudnnFindConvolutionBackwardFilterAlgorithm(h, d.x(), d.y(), d.conv(), d.w(), kCount, n, p);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const Descriptors& d, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x(), d.y(), d.conv(), d.w(), algo, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const Descriptors& d, Algo algo, void* ws, size_t ws_bytes,
                           const void* alpha, const void* beta, const void* a, const void* b, void* out) {
    return cudnnConvolutionBackwardFilter(h, alpha, d.x(), a, d.y(), b, d.conv(), algo, ws, ws_bytes, beta, d.w(),
                                          out);
  }
};

// cuDNN 9 groups statuses by thousands: 3xxx "not supported" (this algorithm, math mode,
// shape) and 2xxx "bad parameter", which some algorithms report for combinations they lack.
// Either moves on to the next candidate; if none runs, the last status is reported.
inline bool is_not_supported(cudnnStatus_t s) {
  const int category = static_cast<int>(s) / 1000;
  return category == static_cast<int>(CUDNN_STATUS_NOT_SUPPORTED) / 1000 ||
         category == static_cast<int>(CUDNN_STATUS_BAD_PARAM) / 1000;
}

struct Candidate {
  int algo = 0;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
// Candidates in cuDNN's order of preference; `chosen` is the first one that ran.
struct Plan {
  std::vector<Candidate> candidates;
  size_t chosen = 0;
};

using PlanKey = std::array<int64_t, 20>;

inline std::mutex& plan_mutex() {
  static std::mutex m;
  return m;
}
inline std::map<PlanKey, Plan>& plan_cache() {
  static std::map<PlanKey, Plan> cache;
  return cache;
}

// The math mode rfcf asks for: plain fp32 FMA unless TF32 is allowed; tensor cores for 16-bit
// data; double has one mode.
inline cudnnMathType_t requested_math(cudnnDataType_t type) {
  if (type == CUDNN_DATA_FLOAT && !cuda_rt::tf32_allowed()) return CUDNN_FMA_MATH;
  if (type == CUDNN_DATA_BFLOAT16 || type == CUDNN_DATA_HALF) return CUDNN_TENSOR_OP_MATH;
  return CUDNN_DEFAULT_MATH;
}

template <class Dir>
PlanKey plan_key(int dir, cudnnDataType_t type, const Conv2dGeometry& g, const Shape& x, const Shape& w) {
  return PlanKey{dir, static_cast<int64_t>(type), x[0], x[1], x[2], x[3], w[0], g.kernel_h, g.kernel_w,
                 g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups,
                 static_cast<int64_t>(requested_math(type)), static_cast<int64_t>(cuda_rt::conv_algo_search()),
                 cuda_rt::current_device(), 0};
}

template <class Dir>
Plan make_plan(cudnnHandle_t h, const Descriptors& d, cudnnDataType_t type) {
  const cudnnMathType_t math = requested_math(type);
  RFCF_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv(), math));
  typename Dir::Perf perf[Dir::kCount];
  int n = 0;
  if (cuda_rt::conv_algo_search() == cuda_rt::ConvAlgoSearch::exhaustive)
    RFCF_CUDNN_CHECK(Dir::find(h, d, &n, perf));
  else
    RFCF_CUDNN_CHECK(Dir::heuristic(h, d, &n, perf));
  Plan plan;
  for (int i = 0; i < n; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    // Without TF32, fp32 keeps to FMA kernels whatever the heuristic proposes.
    const cudnnMathType_t m = math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : perf[i].mathType;
    plan.candidates.push_back(Candidate{static_cast<int>(perf[i].algo), perf[i].memory, m});
  }
  return plan;
}

// Runs one direction with the cached plan: out = alpha * op(a, b) + beta * out.
template <class Dir, class T>
void run(int dir, const Conv2dGeometry& g, const Shape& x_shape, const Shape& w_shape, const T* a, const T* b, T* out,
         T beta) {
  constexpr cudnnDataType_t type = data_type<T>();
  cudnnHandle_t h = cuda_rt::cudnn_handle();
  Descriptors d(type, g, x_shape, w_shape);
  const PlanKey key = plan_key<Dir>(dir, type, g, x_shape, w_shape);
  Plan plan;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(plan_mutex());
    auto it = plan_cache().find(key);
    if (it != plan_cache().end()) {
      plan = it->second;
      cached = true;
    }
  }
  if (!cached) plan = make_plan<Dir>(h, d, type);
  cudnnStatus_t last = CUDNN_STATUS_SUCCESS;
  const scale_t<T> alpha = 1, beta_s = static_cast<scale_t<T>>(beta);
  for (size_t i = plan.chosen; i < plan.candidates.size(); ++i) {
    const Candidate& c = plan.candidates[i];
    size_t ws_bytes = 0;
    RFCF_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv(), c.math));
    // The heuristic's memory figure may be for another math mode: ask for this one.
    void* ws = nullptr;
    const cudnnStatus_t ws_status = Dir::workspace(h, d, static_cast<typename Dir::Algo>(c.algo), &ws_bytes);
    if (is_not_supported(ws_status)) {
      last = ws_status;
      continue;
    }
    RFCF_CUDNN_CHECK(ws_status);
    if (ws_bytes) {
      try {
        ws = Allocator<cuda>::allocate(ws_bytes);
      } catch (const DeviceError&) {
        last = CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
        continue;  // this algorithm's workspace does not fit: try the next one
      }
    }
    const cudnnStatus_t s = Dir::run(h, d, static_cast<typename Dir::Algo>(c.algo), ws, ws_bytes, &alpha, &beta_s, a, b, out);
    if (ws) Allocator<cuda>::deallocate(ws, ws_bytes);
    if (is_not_supported(s)) {
      last = s;  // this algorithm cannot run here (math mode, shape): try the next one
      continue;
    }
    RFCF_CUDNN_CHECK(s);
    if (i != plan.chosen || !cached) {
      plan.chosen = i;
      std::lock_guard<std::mutex> lock(plan_mutex());
      plan_cache()[key] = plan;
    }
    return;
  }
  fail<DeviceError>("Conv2dOp<cuda>::", Dir::name, ": no cuDNN algorithm ran for input ", x_shape.str(), " weight ",
                    w_shape.str(), " (", plan.candidates.size(), " candidates; last status: ",
                    last == CUDNN_STATUS_SUCCESS ? "none" : cudnnGetErrorString(last), ")");
}

}  // namespace cuda_conv

// bias/db may be nullptr (the pointer type is not deduced, so a plain nullptr works).
template <>
struct Conv2dOp<cuda> {
  template <class T>
  static Tensor<T, cuda> forward(const Conv2dGeometry& g, const Tensor<T, cuda>& x, const Tensor<T, cuda>& w,
                                 const std::type_identity_t<Tensor<T, cuda>>* bias) {
    cuda_conv::validate("Conv2dOp<cuda>::forward", g, x.shape(), w.shape(), bias ? &bias->shape() : nullptr);
    Tensor<T, cuda> y(Shape{x.dim(0), w.dim(0), g.out_h(x.dim(2)), g.out_w(x.dim(3))});
    if (y.numel() == 0) return y;
    cuda_conv::run<cuda_conv::Forward>(0, g, x.shape(), w.shape(), x.data(), w.data(), y.data(), T(0));
    if (bias) {
      constexpr cudnnDataType_t type = cuda_conv::data_type<T>();
      cuda_conv::BiasDescriptor bd(type, w.dim(0));
      cuda_conv::Descriptors d(type, g, x.shape(), w.shape());
      const cuda_conv::scale_t<T> one = 1;
      RFCF_CUDNN_CHECK(cudnnAddTensor(cuda_rt::cudnn_handle(), &one, bd.get(), bias->data(), &one, d.y(), y.data()));
    }
    return y;
  }

  template <class T>
  static Tensor<T, cuda> backward_data(const Conv2dGeometry& g, const Tensor<T, cuda>& dy, const Tensor<T, cuda>& w,
                                       const Shape& x_shape) {
    cuda_conv::validate("Conv2dOp<cuda>::backward_data", g, x_shape, w.shape(), nullptr);
    check_dy("Conv2dOp<cuda>::backward_data", g, x_shape, w.shape(), dy.shape());
    Tensor<T, cuda> dx(x_shape);
    if (dx.numel() == 0) return dx;
    cuda_conv::run<cuda_conv::BackwardData>(1, g, x_shape, w.shape(), w.data(), dy.data(), dx.data(), T(0));
    return dx;
  }

  // dw += dL/dw, db += dL/db (db may be nullptr).
  template <class T>
  static void backward_weight(const Conv2dGeometry& g, const Tensor<T, cuda>& x, const Tensor<T, cuda>& dy,
                              Tensor<T, cuda>& dw, std::type_identity_t<Tensor<T, cuda>>* db) {
    cuda_conv::validate("Conv2dOp<cuda>::backward_weight", g, x.shape(), dw.shape(), db ? &db->shape() : nullptr);
    check_dy("Conv2dOp<cuda>::backward_weight", g, x.shape(), dw.shape(), dy.shape());
    if (x.dim(0) == 0) return;
    cuda_conv::run<cuda_conv::BackwardFilter>(2, g, x.shape(), dw.shape(), x.data(), dy.data(), dw.data(), T(1));
    if (db) {
      constexpr cudnnDataType_t type = cuda_conv::data_type<T>();
      cuda_conv::BiasDescriptor bd(type, dw.dim(0));
      cuda_conv::Descriptors d(type, g, x.shape(), dw.shape());
      const cuda_conv::scale_t<T> one = 1;
      RFCF_CUDNN_CHECK(
          cudnnConvolutionBackwardBias(cuda_rt::cudnn_handle(), &one, d.y(), dy.data(), &one, bd.get(), db->data()));
    }
  }

 private:
  static void check_dy(const char* what, const Conv2dGeometry& g, const Shape& x, const Shape& w, const Shape& dy) {
    const Shape expected{x[0], w[0], g.out_h(x[2]), g.out_w(x[3])};
    check<ShapeError>(dy == expected, what, ": gradient ", dy.str(), " does not match the output shape ",
                      expected.str(), " of input ", x.str());
  }
};

}  // namespace rfcf::ops
