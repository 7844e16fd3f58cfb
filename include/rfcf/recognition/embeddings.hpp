#pragma once
// Embedding helpers on any device: row-wise L2 normalisation and the two flip-test
// combinations (recognition.md 7.5 step 3: concatenation; 10.2 step 2: sum).
#include <cstdint>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/recognition/margin_functors.hpp"

namespace rfcf::recognition {

namespace functors {
// out[i] = [a_i | b_i] for rows of a [n, da] and b [n, db].
template <class T>
struct ConcatRows {
  const T* a;
  const T* b;
  T* out;
  int64_t da, db;
  RFCF_HD void operator()(int64_t e) const {
    const int64_t w = da + db, i = e / w, k = e - i * w;
    out[e] = k < da ? a[i * da + k] : b[i * db + k - da];
  }
};
}  // namespace functors

// Rows divided by their L2 norm (norms below eps are replaced by eps, so zero rows stay zero).
template <class T, class D>
Tensor<T, D> l2_normalize(const Tensor<T, D>& x, double eps = 1e-12) {
  check_rank(x, 2, "l2_normalize (embeddings [n, d])");
  Tensor<T, D> y(x.shape()), norms(Shape{x.dim(0)});
  Executor<D>::for_each(x.dim(0), functors::RowL2Normalize<T>{x.data(), y.data(), norms.data(), x.dim(1),
                                                              static_cast<T>(eps)});
  return y;
}

// insightface flip test: f(x) + f(flip(x)) (normalise afterwards).
template <class T, class D>
Tensor<T, D> flip_sum(const Tensor<T, D>& f, const Tensor<T, D>& f_flip) {
  check_same_shape(f, f_flip, "flip_sum");
  return ops::add(f, f_flip);
}

// CASIA MobileFaceNet flip test: [f(x) | f(flip(x))], raw halves (not normalised).
template <class T, class D>
Tensor<T, D> flip_concat(const Tensor<T, D>& f, const Tensor<T, D>& f_flip) {
  check_same_shape(f, f_flip, "flip_concat");
  check_rank(f, 2, "flip_concat (embeddings [n, d])");
  const int64_t n = f.dim(0), d = f.dim(1);
  Tensor<T, D> out(Shape{n, 2 * d});
  Executor<D>::for_each(out.numel(), functors::ConcatRows<T>{f.data(), f_flip.data(), out.data(), d, d});
  return out;
}

}  // namespace rfcf::recognition
