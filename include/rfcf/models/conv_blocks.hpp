#pragma once
// Conv + BatchNorm (+ activation) blocks named as PyTorch's nn.Sequential children
// ("0" conv, "1" bn, "2" activation), shared by the backbones and the detector neck.
#include <cstdint>

#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/conv2d.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/sequential.hpp"

namespace rfcf::models {

template <class T, class D>
using ConvBn = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>>;
template <class T, class D>
using ConvBnAct = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::LeakyReLU<T, D>>;
// Depthwise 3x3 (carries the stride) then pointwise 1x1, each with BN and activation.
template <class T, class D>
using ConvDw = nn::Sequential<nn::Conv2d<T, D>, nn::BatchNorm2d<T, D>, nn::LeakyReLU<T, D>, nn::Conv2d<T, D>,
                              nn::BatchNorm2d<T, D>, nn::LeakyReLU<T, D>>;

// Folds an eval-mode batch norm into the convolution right before it (inference only; the
// convolution keeps its original weights for saving, but can no longer train).
template <class T, class D>
void fuse_conv_bn(nn::Conv2d<T, D>& conv, nn::BatchNorm2d<T, D>& bn) {
  conv.fuse_batch_norm(bn);
  bn.set_bypass(true);
}

template <class T, class D>
ConvBn<T, D> conv_bn_no_act(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return ConvBn<T, D>(nn::Conv2d<T, D>(in, out, nn::Conv2dOptions::k(kernel).strided(stride).padded(kernel / 2)),
                      nn::BatchNorm2d<T, D>(out));
}

template <class T, class D>
ConvBnAct<T, D> conv_bn_act(int64_t in, int64_t out, int64_t kernel, int64_t stride, double slope) {
  return ConvBnAct<T, D>(nn::Conv2d<T, D>(in, out, nn::Conv2dOptions::k(kernel).strided(stride).padded(kernel / 2)),
                         nn::BatchNorm2d<T, D>(out), nn::LeakyReLU<T, D>(slope));
}

template <class T, class D>
ConvDw<T, D> conv_dw(int64_t in, int64_t out, int64_t stride, double slope) {
  return ConvDw<T, D>(nn::Conv2d<T, D>(in, in, nn::Conv2dOptions::k(3).strided(stride).padded(1).grouped(in)),
                      nn::BatchNorm2d<T, D>(in), nn::LeakyReLU<T, D>(slope),
                      nn::Conv2d<T, D>(in, out, nn::Conv2dOptions::k(1)), nn::BatchNorm2d<T, D>(out),
                      nn::LeakyReLU<T, D>(slope));
}

}  // namespace rfcf::models
