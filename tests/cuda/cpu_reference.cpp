// Naive host references (double accumulation) and the cpu run of the layer stack. Compiled by
// the C++ compiler; needs only core and nn (no Eigen), so it also builds on the GPU machine.
#include "cuda/cpu_reference.hpp"

#include "cuda/layer_stack.hpp"
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/executor.hpp"

namespace rfcf::test {

template <class T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      const double prior = beta == T(0) ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      C[i * ldc + j] = static_cast<T>(static_cast<double>(alpha) * s + prior);
    }
}

namespace {
struct ConvDims {
  int64_t n, cin, h, w, cout, ho, wo, cin_g, cout_g;
  ConvDims(const ops::Conv2dGeometry& g, const Shape& x, const Shape& wt)
      : n(x[0]), cin(x[1]), h(x[2]), w(x[3]), cout(wt[0]), ho(g.out_h(x[2])), wo(g.out_w(x[3])),
        cin_g(x[1] / g.groups), cout_g(wt[0] / g.groups) {}
};

// Calls f(n, co, oy, ox, ci, ky, kx, x_index, w_index) for every product term of the convolution.
template <class F>
void for_each_term(const ops::Conv2dGeometry& g, const ConvDims& d, F&& f) {
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t co = 0; co < d.cout; ++co) {
      const int64_t group = co / d.cout_g;
      for (int64_t oy = 0; oy < d.ho; ++oy)
        for (int64_t ox = 0; ox < d.wo; ++ox)
          for (int64_t cg = 0; cg < d.cin_g; ++cg) {
            const int64_t ci = group * d.cin_g + cg;
            for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
              const int64_t iy = oy * g.stride_h - g.pad_h + ky * g.dilation_h;
              if (iy < 0 || iy >= d.h) continue;
              for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
                const int64_t ix = ox * g.stride_w - g.pad_w + kx * g.dilation_w;
                if (ix < 0 || ix >= d.w) continue;
                const int64_t xi = ((n * d.cin + ci) * d.h + iy) * d.w + ix;
                const int64_t wi = ((co * d.cin_g + cg) * g.kernel_h + ky) * g.kernel_w + kx;
                const int64_t yi = ((n * d.cout + co) * d.ho + oy) * d.wo + ox;
                f(xi, wi, yi);
              }
            }
          }
    }
}
}  // namespace

template <class T>
std::vector<T> conv2d_forward_reference(const ops::Conv2dGeometry& g, const Shape& x_shape, const std::vector<T>& x,
                                        const Shape& w_shape, const std::vector<T>& w, const std::vector<T>* bias) {
  const ConvDims d(g, x_shape, w_shape);
  std::vector<double> y(static_cast<size_t>(d.n * d.cout * d.ho * d.wo), 0.0);
  for_each_term(g, d, [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += double(x[xi]) * double(w[wi]); });
  if (bias)
    for (size_t i = 0; i < y.size(); ++i) y[i] += double((*bias)[(i / (d.ho * d.wo)) % d.cout]);
  return std::vector<T>(y.begin(), y.end());
}

template <class T>
std::vector<T> conv2d_backward_data_reference(const ops::Conv2dGeometry& g, const Shape& x_shape,
                                              const Shape& w_shape, const std::vector<T>& w,
                                              const std::vector<T>& dy) {
  const ConvDims d(g, x_shape, w_shape);
  std::vector<double> dx(static_cast<size_t>(x_shape.numel()), 0.0);
  for_each_term(g, d, [&](int64_t xi, int64_t wi, int64_t yi) { dx[xi] += double(dy[yi]) * double(w[wi]); });
  return std::vector<T>(dx.begin(), dx.end());
}

template <class T>
std::pair<std::vector<T>, std::vector<T>> conv2d_backward_weight_reference(const ops::Conv2dGeometry& g,
                                                                           const Shape& x_shape,
                                                                           const std::vector<T>& x,
                                                                           const Shape& w_shape,
                                                                           const std::vector<T>& dy) {
  const ConvDims d(g, x_shape, w_shape);
  std::vector<double> dw(static_cast<size_t>(w_shape.numel()), 0.0), db(static_cast<size_t>(d.cout), 0.0);
  for_each_term(g, d, [&](int64_t xi, int64_t wi, int64_t yi) { dw[wi] += double(dy[yi]) * double(x[xi]); });
  for (size_t i = 0; i < dy.size(); ++i) db[(i / (d.ho * d.wo)) % d.cout] += double(dy[i]);
  return {std::vector<T>(dw.begin(), dw.end()), std::vector<T>(db.begin(), db.end())};
}

#define RFCF_INSTANTIATE(T)                                                                                         \
  template void gemm_reference<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, \
                                  T, T*, int64_t);                                                                 \
  template std::vector<T> conv2d_forward_reference<T>(const ops::Conv2dGeometry&, const Shape&,                    \
                                                      const std::vector<T>&, const Shape&, const std::vector<T>&,  \
                                                      const std::vector<T>*);                                      \
  template std::vector<T> conv2d_backward_data_reference<T>(const ops::Conv2dGeometry&, const Shape&,              \
                                                            const Shape&, const std::vector<T>&,                   \
                                                            const std::vector<T>&);                                \
  template std::pair<std::vector<T>, std::vector<T>> conv2d_backward_weight_reference<T>(                          \
      const ops::Conv2dGeometry&, const Shape&, const std::vector<T>&, const Shape&, const std::vector<T>&);
RFCF_INSTANTIATE(float)
RFCF_INSTANTIATE(double)
#undef RFCF_INSTANTIATE

std::pair<std::vector<float>, std::vector<float>> layer_stack_cpu(const Shape& x_shape, const std::vector<float>& x,
                                                                  const std::vector<float>& dy) {
  auto net = make_layer_stack<cpu>();
  const auto xt = Tensor<float, cpu>::from_host(x_shape, x);
  const auto y = net.forward(xt);
  const auto dx = net.backward(Tensor<float, cpu>::from_host(y.shape(), dy));
  return {y.to_vector(), dx.to_vector()};
}

}  // namespace rfcf::test
