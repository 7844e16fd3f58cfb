#pragma once
// Host references for the CUDA tests, compiled by the C++ compiler (cpu_reference.cpp):
// naive loops with double accumulation, and the cpu device running the same layer stack.
#include <cstdint>
#include <utility>
#include <vector>

#include "rfcf/core/shape.hpp"
#include "rfcf/ops/conv2d.hpp"

namespace rfcf::test {

// C = alpha * op(A) op(B) + beta * C on row-major matrices with row strides lda, ldb, ldc.
template <class T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// PyTorch's conv2d (cross-correlation) and its gradients, as in ops/conv2d.hpp.
template <class T>
std::vector<T> conv2d_forward_reference(const ops::Conv2dGeometry& g, const Shape& x_shape, const std::vector<T>& x,
                                        const Shape& w_shape, const std::vector<T>& w, const std::vector<T>* bias);
template <class T>
std::vector<T> conv2d_backward_data_reference(const ops::Conv2dGeometry& g, const Shape& x_shape,
                                              const Shape& w_shape, const std::vector<T>& w,
                                              const std::vector<T>& dy);
// Returns dL/dw (not accumulated) and, in .second, dL/db.
template <class T>
std::pair<std::vector<T>, std::vector<T>> conv2d_backward_weight_reference(const ops::Conv2dGeometry& g,
                                                                           const Shape& x_shape,
                                                                           const std::vector<T>& x,
                                                                           const Shape& w_shape,
                                                                           const std::vector<T>& dy);

// The layer stack of layer_stack.hpp on the cpu device: returns {y, dx}.
std::pair<std::vector<float>, std::vector<float>> layer_stack_cpu(const Shape& x_shape, const std::vector<float>& x,
                                                                  const std::vector<float>& dy);

}  // namespace rfcf::test
