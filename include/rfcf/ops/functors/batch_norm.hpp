#pragma once
// Batch-norm math shared by host and CUDA executors. Tensors are viewed as [outer, c, inner]
// (outer = N, inner = H*W or 1); the channel of flat index i is channel(i) = (i / inner) % c.
// Per-channel functors run over c indices, per-element functors over the whole tensor.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"
#include "rfcf/ops/functors/channel_index.hpp"

namespace rfcf::functors {

// From per-channel statistics (mean, biased var) and the optional affine parameters:
// invstd = 1/sqrt(var + eps), scale = weight * invstd, shift = bias - mean * scale, so that
// y = x * scale + shift. weight/bias may be null (affine = false: weight 1, bias 0); shift may be
// null when only scale is needed.
template <class T>
struct BatchNormChannelAffine {
  const T* mean;
  const T* var;
  const T* weight;
  const T* bias;
  T* invstd;
  T* scale;
  T* shift;
  T eps;
  RFCF_HD void operator()(int64_t c) const {
    using std::sqrt;
    const T is = T(1) / sqrt(var[c] + eps);
    const T s = (weight ? weight[c] : T(1)) * is;
    invstd[c] = is;
    scale[c] = s;
    if (shift) shift[c] = (bias ? bias[c] : T(0)) - mean[c] * s;
  }
};

// running = (1 - momentum) * running + momentum * batch, with the unbiased variance
// (unbias = M / (M - 1), M = values per channel), exactly as PyTorch.
template <class T>
struct BatchNormRunningUpdate {
  const T* mean;
  const T* var;
  T* running_mean;
  T* running_var;
  T momentum;
  T unbias;
  RFCF_HD void operator()(int64_t c) const {
    running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (T(1) - momentum) * running_var[c] + momentum * var[c] * unbias;
  }
};

// The per-element formulas, shared by the per-element functors below and the host's per-plane
// loops (ops/cpu/batch_norm.hpp): one formula for both.
template <class T>
RFCF_HD inline T batch_norm_apply(T x, T mean, T scale, T bias) {
  return (x - mean) * scale + bias;
}
// Train-mode dx with m values per channel (inv_m = 1/m), sum_dy and sum_dy_xhat over the channel.
template <class T>
RFCF_HD inline T batch_norm_backward_train(T x, T dy, T mean, T invstd, T scale, T sum_dy, T sum_dy_xhat, T inv_m) {
  const T xhat = (x - mean) * invstd;
  return scale * (dy - sum_dy * inv_m - xhat * sum_dy_xhat * inv_m);
}

// y = (x - mean[ch]) * scale[ch] + bias[ch] (bias may be null). Subtracting the mean first
// keeps fp32 exact for inputs with a large offset (x * scale + shift would cancel digits).
template <class T>
struct BatchNormApply {
  const T* x;
  const T* mean;
  const T* scale;
  const T* bias;
  T* y;
  ChannelOf channel;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ch = channel(i);
    y[i] = batch_norm_apply(x[i], mean[ch], scale[ch], bias ? bias[ch] : T(0));
  }
};

// Eval-mode backward: dx = dy * scale[ch] (the statistics are constants).
template <class T>
struct BatchNormBackwardEval {
  const T* dy;
  const T* scale;
  T* dx;
  ChannelOf channel;
  RFCF_HD void operator()(int64_t i) const { dx[i] = dy[i] * scale[channel(i)]; }
};

// Train-mode backward through the batch statistics, with xhat = (x - mean) * invstd:
//   dx = scale * (dy - sum_dy / M - xhat * sum_dy_xhat / M),  scale = weight * invstd.
template <class T>
struct BatchNormBackwardTrain {
  const T* x;
  const T* dy;
  const T* mean;
  const T* invstd;
  const T* scale;
  const T* sum_dy;
  const T* sum_dy_xhat;
  T* dx;
  T inv_m;
  ChannelOf channel;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ch = channel(i);
    dx[i] = batch_norm_backward_train(x[i], dy[i], mean[ch], invstd[ch], scale[ch], sum_dy[ch], sum_dy_xhat[ch], inv_m);
  }
};

// Folding a batch norm into the preceding conv: w'[o, ...] = w[o, ...] * scale[o].
template <class T>
struct FoldWeight {
  const T* w;
  const T* scale;
  T* out;
  int64_t per_out;  // elements per output channel
  RFCF_HD void operator()(int64_t i) const { out[i] = w[i] * scale[i / per_out]; }
};
// b'[o] = b[o] * scale[o] + shift[o] (b may be null: no conv bias).
template <class T>
struct FoldBias {
  const T* b;
  const T* scale;
  const T* shift;
  T* out;
  RFCF_HD void operator()(int64_t o) const { out[o] = (b ? b[o] * scale[o] : T(0)) + shift[o]; }
};

}  // namespace rfcf::functors
