#pragma once
// Conv2dOp<cpu>: host convolution in three paths.
//  - depthwise (groups == Cin == Cout): direct loops (cpu/depthwise_conv2d.hpp);
//  - 1x1, stride 1, no padding: a GEMM straight on the input, no im2col;
//  - everything else: im2col + GEMM on bands of output rows, so that the column buffer of a
//    band stays in cache; bands run in parallel, each with a single-threaded GEMM.
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "rfcf/core/allocator.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/conv2d_check.hpp"
#include "rfcf/ops/cpu/depthwise_conv2d.hpp"
#include "rfcf/ops/cpu/gemm.hpp"
#include "rfcf/ops/cpu/im2col.hpp"

namespace rfcf::ops {

namespace cpu_detail {

// Number of chunks parallel_chunks splits n items into (at most the OpenMP thread count).
inline int64_t chunk_count(int64_t n) {
#if defined(_OPENMP)
  if (omp_in_parallel()) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n));
#else
  (void)n;
  return 1;
#endif
}

// Calls f(chunk, begin, end) on chunk_count(n) disjoint ranges of [0, n), in parallel; chunk
// indexes per-chunk scratch. A single chunk runs on the calling thread (GEMMs inside may then
// use all threads themselves).
template <class F>
void parallel_chunks(int64_t n, F&& f) {
  if (n <= 0) return;
  const int64_t chunks = chunk_count(n);
#if defined(_OPENMP)
  if (chunks > 1) {
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) f(c, n * c / chunks, n * (c + 1) / chunks);
    return;
  }
#endif
  (void)chunks;
  f(int64_t{0}, int64_t{0}, n);
}

// How the GEMM paths cut the work: items are (image, group, band of output rows).
struct GemmConvPlan {
  int64_t N, C, H, W, Cout, Ho, Wo;
  int64_t groups, cin_g, cout_g, K;  // K = cin_g * kh * kw (GEMM depth / column rows)
  int64_t rows;                      // output rows per band
  int64_t bands;                     // bands per (image, group)
  bool pointwise;

  int64_t items() const { return N * groups * bands; }
  int64_t band_cols() const { return rows * Wo; }
  int64_t out_plane() const { return Ho * Wo; }
  struct Item {
    int64_t n, grp, oh_begin, oh_end;
  };
  Item item(int64_t index) const {
    const int64_t band = index % bands, ng = index / bands;
    return {ng / groups, ng % groups, band * rows, std::min(Ho, (band + 1) * rows)};
  }
};

// Column-buffer budget per band: about 256 KiB of floats, i.e. half an L2 cache of the target.
constexpr int64_t kBandElements = int64_t{1} << 16;

inline GemmConvPlan make_plan(const Conv2dGeometry& g, const Shape& x, int64_t cout, int64_t min_rows = 1) {
  GemmConvPlan p{};
  p.N = x[0], p.C = x[1], p.H = x[2], p.W = x[3], p.Cout = cout;
  p.Ho = g.out_h(p.H), p.Wo = g.out_w(p.W);
  p.groups = g.groups, p.cin_g = p.C / g.groups, p.cout_g = cout / g.groups;
  p.K = p.cin_g * g.kernel_h * g.kernel_w;
  p.pointwise = g.is_pointwise();
  const int64_t target_cols = std::max<int64_t>(64, kBandElements / std::max<int64_t>(p.K, 1));
  p.rows = std::clamp<int64_t>((target_cols + p.Wo - 1) / p.Wo, 1, p.Ho);
  // Enough bands to keep every thread busy.
  const int64_t threads = chunk_count(1 << 20);
  while (p.rows > 1 && p.N * p.groups * ((p.Ho + p.rows - 1) / p.rows) < 2 * threads) p.rows = (p.rows + 1) / 2;
  p.rows = std::clamp<int64_t>(std::max(p.rows, min_rows), 1, p.Ho);
  p.bands = (p.Ho + p.rows - 1) / p.rows;
  return p;
}

template <class T>
void add_channel_bias(T* y, int64_t channels, int64_t stride, int64_t count, const T* bias) {
  for (int64_t c = 0; c < channels; ++c) {
    T* row = y + c * stride;
    const T b = bias[c];
    for (int64_t q = 0; q < count; ++q) row[q] += b;
  }
}

// db[c] += sum over images and pixels of dy[n, c].
template <class T>
void accumulate_bias_grad(const T* dy, int64_t N, int64_t C, int64_t plane, T* db) {
  parallel_for(C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      T s = 0;
      for (int64_t n = 0; n < N; ++n) s += sum_contiguous(dy + (n * C + c) * plane, plane);
      db[c] += s;
    }
  });
}

inline bool use_depthwise(const Conv2dGeometry& g, const Shape& x, int64_t cout) {
  return g.is_depthwise(x[1]) && cout == x[1];
}

}  // namespace cpu_detail

template <>
struct Conv2dOp<cpu> {
  template <class T>
  static Tensor<T, cpu> forward(const Conv2dGeometry& g, const Tensor<T, cpu>& x, const Tensor<T, cpu>& w,
                                const std::type_identity_t<Tensor<T, cpu>>* bias) {
    check_conv2d(g, x.shape(), w.shape(), "Conv2dOp<cpu>::forward");
    const int64_t cout = w.dim(0);
    check<ShapeError>(!bias || (bias->rank() == 1 && bias->dim(0) == cout), "Conv2dOp<cpu>::forward: bias ",
                      bias ? bias->shape().str() : std::string(), " does not match ", cout, " output channels");
    Tensor<T, cpu> y(Shape{x.n(), cout, g.out_h(x.h()), g.out_w(x.w())});
    if (y.numel() == 0) return y;
    const T* bp = bias ? bias->data() : nullptr;
    if (cpu_detail::use_depthwise(g, x.shape(), cout)) {
      cpu_detail::depthwise_forward(g, x.data(), w.data(), bp, x.n(), x.c(), plane(g, x.shape()), y.data());
      return y;
    }
    const auto p = cpu_detail::make_plan(g, x.shape(), cout);
    Tensor<T, cpu> col = column_scratch<T>(p);
    const T *xp = x.data(), *wp = w.data();
    T* yp = y.data();
    cpu_detail::parallel_chunks(p.items(), [&](int64_t chunk, int64_t begin, int64_t end) {
      T* cbuf = p.pointwise ? nullptr : col.data() + chunk * p.K * p.band_cols();
      for (int64_t index = begin; index < end; ++index) {
        const auto it = p.item(index);
        const int64_t cols = (it.oh_end - it.oh_begin) * p.Wo;
        const T* xg = xp + (it.n * p.C + it.grp * p.cin_g) * p.H * p.W;
        T* yg = yp + (it.n * p.Cout + it.grp * p.cout_g) * p.out_plane() + it.oh_begin * p.Wo;
        const T* B = xg + it.oh_begin * p.Wo;
        int64_t ldb = p.out_plane();
        if (!p.pointwise) {
          cpu_detail::im2col_rows(g, xg, p.cin_g, p.H, p.W, it.oh_begin, it.oh_end, p.Wo, cbuf);
          B = cbuf, ldb = cols;
        }
        Gemm<cpu>::run(false, false, p.cout_g, cols, p.K, T(1), wp + it.grp * p.cout_g * p.K, p.K, B, ldb, T(0),
                       yg, p.out_plane());
        if (bp) cpu_detail::add_channel_bias(yg, p.cout_g, p.out_plane(), cols, bp + it.grp * p.cout_g);
      }
    });
    return y;
  }

  template <class T>
  static Tensor<T, cpu> backward_data(const Conv2dGeometry& g, const Tensor<T, cpu>& dy, const Tensor<T, cpu>& w,
                                      const Shape& x_shape) {
    check_conv2d(g, x_shape, w.shape(), "Conv2dOp<cpu>::backward_data");
    check_output_grad(g, dy.shape(), x_shape, w.dim(0), "Conv2dOp<cpu>::backward_data");
    const int64_t cout = w.dim(0);
    Tensor<T, cpu> dx(x_shape);
    if (dx.numel() == 0) return dx;
    if (cpu_detail::use_depthwise(g, x_shape, cout)) {
      cpu_detail::depthwise_backward_data(g, dy.data(), w.data(), x_shape[0], x_shape[1], plane(g, x_shape),
                                          dx.data());
      return dx;
    }
    // Bands of the same parity never touch the same input rows (min_rows), so col2im of one
    // parity runs in parallel without races.
    const int64_t reach = (g.kernel_h - 1) * g.dilation_h;
    const auto p = cpu_detail::make_plan(g, x_shape, cout, reach / g.stride_h + 1);
    const T *dyp = dy.data(), *wp = w.data();
    T* dxp = dx.data();
    if (p.pointwise) {
      cpu_detail::parallel_chunks(p.items(), [&](int64_t, int64_t begin, int64_t end) {
        for (int64_t index = begin; index < end; ++index) {
          const auto it = p.item(index);
          const int64_t off = it.oh_begin * p.Wo, cols = (it.oh_end - it.oh_begin) * p.Wo;
          Gemm<cpu>::run(true, false, p.K, cols, p.cout_g, T(1), wp + it.grp * p.cout_g * p.K, p.K,
                         dyp + (it.n * p.Cout + it.grp * p.cout_g) * p.out_plane() + off, p.out_plane(), T(0),
                         dxp + (it.n * p.C + it.grp * p.cin_g) * p.H * p.W + off, p.H * p.W);
        }
      });
      return dx;
    }
    fill(dx, T(0));
    Tensor<T, cpu> col = column_scratch<T>(p);
    for (int64_t parity = 0; parity < 2; ++parity) {
      const int64_t per_ng = (p.bands - parity + 1) / 2;  // bands of this parity per (image, group)
      cpu_detail::parallel_chunks(p.N * p.groups * per_ng, [&](int64_t chunk, int64_t begin, int64_t end) {
        T* cbuf = col.data() + chunk * p.K * p.band_cols();
        for (int64_t k = begin; k < end; ++k) {
          const auto it = p.item((k / per_ng) * p.bands + 2 * (k % per_ng) + parity);
          const int64_t cols = (it.oh_end - it.oh_begin) * p.Wo;
          Gemm<cpu>::run(true, false, p.K, cols, p.cout_g, T(1), wp + it.grp * p.cout_g * p.K, p.K,
                         dyp + (it.n * p.Cout + it.grp * p.cout_g) * p.out_plane() + it.oh_begin * p.Wo,
                         p.out_plane(), T(0), cbuf, cols);
          cpu_detail::col2im_rows_add(g, cbuf, p.cin_g, p.H, p.W, it.oh_begin, it.oh_end, p.Wo,
                                      dxp + (it.n * p.C + it.grp * p.cin_g) * p.H * p.W);
        }
      });
    }
    return dx;
  }

  // dw += dL/dw, db += dL/db (when db is given).
  template <class T>
  static void backward_weight(const Conv2dGeometry& g, const Tensor<T, cpu>& x, const Tensor<T, cpu>& dy,
                              Tensor<T, cpu>& dw, std::type_identity_t<Tensor<T, cpu>>* db) {
    check_conv2d(g, x.shape(), dw.shape(), "Conv2dOp<cpu>::backward_weight");
    const int64_t cout = dw.dim(0);
    check_output_grad(g, dy.shape(), x.shape(), cout, "Conv2dOp<cpu>::backward_weight");
    check<ShapeError>(!db || (db->rank() == 1 && db->dim(0) == cout), "Conv2dOp<cpu>::backward_weight: bias grad ",
                      db ? db->shape().str() : std::string(), " does not match ", cout, " output channels");
    if (dy.numel() == 0) return;
    T* dbp = db ? db->data() : nullptr;
    if (cpu_detail::use_depthwise(g, x.shape(), cout)) {
      cpu_detail::depthwise_backward_weight(g, x.data(), dy.data(), x.n(), x.c(), plane(g, x.shape()), dw.data(),
                                            dbp);
      return;
    }
    const auto p = cpu_detail::make_plan(g, x.shape(), cout);
    const int64_t chunks = cpu_detail::chunk_count(p.items());
    Tensor<T, cpu> col = column_scratch<T>(p);
    // Chunk 0 accumulates straight into dw; the others into zeroed private copies summed below.
    Tensor<T, cpu> partial = zeros<T, cpu>(Shape{(chunks - 1) * dw.numel()});
    const T *xp = x.data(), *dyp = dy.data();
    cpu_detail::parallel_chunks(p.items(), [&](int64_t chunk, int64_t begin, int64_t end) {
      T* acc = chunk == 0 ? dw.data() : partial.data() + (chunk - 1) * dw.numel();
      T* cbuf = p.pointwise ? nullptr : col.data() + chunk * p.K * p.band_cols();
      for (int64_t index = begin; index < end; ++index) {
        const auto it = p.item(index);
        const int64_t cols = (it.oh_end - it.oh_begin) * p.Wo;
        const T* xg = xp + (it.n * p.C + it.grp * p.cin_g) * p.H * p.W;
        const T* B = xg + it.oh_begin * p.Wo;
        int64_t ldb = p.out_plane();
        if (!p.pointwise) {
          cpu_detail::im2col_rows(g, xg, p.cin_g, p.H, p.W, it.oh_begin, it.oh_end, p.Wo, cbuf);
          B = cbuf, ldb = cols;
        }
        Gemm<cpu>::run(false, true, p.cout_g, p.K, cols, T(1),
                       dyp + (it.n * p.Cout + it.grp * p.cout_g) * p.out_plane() + it.oh_begin * p.Wo,
                       p.out_plane(), B, ldb, T(1), acc + it.grp * p.cout_g * p.K, p.K);
      }
    });
    T* dwp = dw.data();
    const T* part = partial.data();
    parallel_for(dw.numel(), 1 << 12, [&](int64_t begin, int64_t end) {
      for (int64_t c = 0; c + 1 < chunks; ++c)
        for (int64_t i = begin; i < end; ++i) dwp[i] += part[c * dw.numel() + i];
    });
    if (dbp) cpu_detail::accumulate_bias_grad(dyp, p.N, p.Cout, p.out_plane(), dbp);
  }

 private:
  static cpu_detail::DepthwisePlane plane(const Conv2dGeometry& g, const Shape& x) {
    return {x[2], x[3], g.out_h(x[2]), g.out_w(x[3])};
  }
  // One band-sized column buffer per parallel chunk (empty for the pointwise path).
  template <class T>
  static Tensor<T, cpu> column_scratch(const cpu_detail::GemmConvPlan& p) {
    if (p.pointwise) return Tensor<T, cpu>(Shape{0});
    return Tensor<T, cpu>(Shape{cpu_detail::chunk_count(p.items()) * p.K * p.band_cols()});
  }
  static void check_output_grad(const Conv2dGeometry& g, const Shape& dy, const Shape& x, int64_t cout,
                                const char* what) {
    const Shape expected{x[0], cout, g.out_h(x[2]), g.out_w(x[3])};
    check<ShapeError>(dy == expected, what, ": output gradient ", dy.str(), " should be ", expected.str(),
                      " for input ", x.str());
  }
};

}  // namespace rfcf::ops
