#pragma once
// Every nn layer and the models, run forward + backward on one device with inputs from fixed
// seeds. The same code is compiled for cpu (g++, cpu_cases.cpp, real cpu backends) and for
// cuda (nvcc, the .cu tests); results come back as host vectors to compare. The cuda run
// exports its initial weights (parameters and buffers in visit order) and the cpu run imports
// them, so both devices start from identical weights.
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/compare.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/models.hpp"
#include "rfcf/nn.hpp"

namespace rfcf::test {

struct HostWeights {
  std::vector<std::vector<float>> values;  // parameters and buffers, visit order
};

struct HostRun {
  std::vector<std::string> output_names;
  std::vector<std::vector<float>> outputs;  // forward outputs, then dx (and loss values)
  std::vector<std::string> grad_names;
  std::vector<std::vector<float>> grads;    // parameter gradients, visit order
  std::vector<std::vector<float>> buffers;  // buffers after the run (batch-norm running statistics)
};

// Names of the layer cases run_layer_case knows.
inline std::vector<std::string> layer_case_names() {
  return {"conv2d_3x3_bias", "conv2d_depthwise_s2", "conv2d_1x1_groups2", "batchnorm2d_train", "batchnorm2d_eval",
          "batchnorm1d_train", "relu", "leaky_relu", "prelu", "sigmoid", "dropout", "flatten", "linear", "maxpool",
          "avgpool", "global_avgpool", "l2normalize", "upsample_nearest", "squeeze_excitation", "cross_entropy",
          "smooth_l1_sum", "smooth_l1_mean", "sequential_conv_bn_prelu"};
}
inline std::vector<std::string> model_case_names() {
  return {"retinaface_mnet025_eval", "retinaface_mnet025_train", "mobilefacenet_train", "iresnet18_train"};
}

namespace detail {
template <class T, class D>
std::vector<float> host(const Tensor<T, D>& t) {
  if (!t.defined()) return {};  // e.g. dx of a model whose first layer skips the input gradient
  const std::vector<T> v = t.to_vector();
  return std::vector<float>(v.begin(), v.end());
}

struct WeightIo {
  HostWeights* w;
  bool export_mode;
  size_t next = 0;
  template <class T, class D>
  void sync(Tensor<T, D>& t) {
    if (export_mode) {
      w->values.push_back(host(t));
    } else {
      rfcf::check<ShapeError>(next < w->values.size(), "import_weights: more tensors than exported");
      const std::vector<float>& v = w->values[next++];
      rfcf::check<ShapeError>(static_cast<int64_t>(v.size()) == t.numel(), "import_weights: size mismatch");
      t = Tensor<T, D>::from_host(t.shape(), std::vector<T>(v.begin(), v.end()));
    }
  }
  template <class P>
  void parameter(const std::string&, P& p) { sync(p.value); }
  template <class B>
  void buffer(const std::string&, B& b) { sync(b); }
  void counter(const std::string&, int64_t&) {}
};

template <class L>
void sync_weights(L& layer, HostWeights& w, bool export_mode) {
  if (export_mode) w.values.clear();
  WeightIo io{&w, export_mode};
  layer.visit(io, "");
  rfcf::check<ShapeError>(export_mode || io.next == w.values.size(), "import_weights: fewer tensors than exported");
}

template <class L>
void collect_grads(L& layer, HostRun& r) {
  nn::for_each_parameter(layer, [&](const std::string& name, auto& p) {
    r.grad_names.push_back(name);
    r.grads.push_back(host(p.grad));
  });
  nn::for_each_buffer(layer, [&](const std::string&, auto& b) { r.buffers.push_back(host(b)); });
}

template <class D>
Tensor<float, D> input(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  return Tensor<float, D>::from_host(s, random_vector<float>(static_cast<size_t>(s.numel()), seed, lo, hi));
}

// forward(x), backward(random dy): y, dx, parameter grads.
template <class L>
HostRun run_layer(L& layer, HostWeights& w, bool export_mode, const Shape& xs, bool training = true) {
  using D = typename L::device_type;
  sync_weights(layer, w, export_mode);
  layer.train(training);
  const Tensor<float, D> x = input<D>(xs, 11);
  const Tensor<float, D> y = layer.forward(x);
  const Tensor<float, D> dy = input<D>(y.shape(), 12);
  const Tensor<float, D> dx = layer.backward(dy);
  HostRun r;
  r.output_names = {"y", "dx"};
  r.outputs = {host(y), host(dx)};
  collect_grads(layer, r);
  return r;
}
}  // namespace detail

template <class D>
HostRun run_layer_case(const std::string& name, HostWeights& w, bool export_mode) {
  using namespace rfcf::nn;
  using detail::run_layer;
  using T = float;
  const Shape img{2, 8, 9, 11};
  if (name == "conv2d_3x3_bias") {
    Conv2d<T, D> l(8, 12, Conv2dOptions::k(3).padded(1).with_bias());
    return run_layer(l, w, export_mode, img);
  }
  if (name == "conv2d_depthwise_s2") {
    Conv2d<T, D> l(8, 8, Conv2dOptions::k(3).padded(1).strided(2).grouped(8));
    return run_layer(l, w, export_mode, img);
  }
  if (name == "conv2d_1x1_groups2") {
    Conv2d<T, D> l(8, 6, Conv2dOptions::k(1).grouped(2).with_bias());
    return run_layer(l, w, export_mode, img);
  }
  if (name == "batchnorm2d_train" || name == "batchnorm2d_eval") {
    BatchNorm2d<T, D> l(8);
    const bool train = name == "batchnorm2d_train";
    if (!train && export_mode) {  // non-trivial running statistics for eval mode
      nn::for_each_buffer(l, [&](const std::string& n, auto& b) {
        b = detail::input<D>(b.shape(), n.find("var") != std::string::npos ? 21 : 22, 0.5, 1.5);
      });
    }
    return run_layer(l, w, export_mode, img, train);
  }
  if (name == "batchnorm1d_train") {
    BatchNorm1d<T, D> l(24);
    return run_layer(l, w, export_mode, Shape{16, 24});
  }
  if (name == "relu") {
    ReLU<T, D> l;
    return run_layer(l, w, export_mode, img);
  }
  if (name == "leaky_relu") {
    LeakyReLU<T, D> l(0.1);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "prelu") {
    PReLU<T, D> l(8);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "sigmoid") {
    Sigmoid<T, D> l;
    return run_layer(l, w, export_mode, img);
  }
  if (name == "dropout") {
    Dropout<T, D> l(0.3, 7);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "flatten") {
    Flatten<T, D> l;
    return run_layer(l, w, export_mode, img);
  }
  if (name == "linear") {
    Linear<T, D> l(40, 17);
    return run_layer(l, w, export_mode, Shape{5, 40});
  }
  if (name == "maxpool") {
    MaxPool2d<T, D> l(3, 2, 1);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "avgpool") {
    AvgPool2d<T, D> l(2, 2, 0);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "global_avgpool") {
    GlobalAvgPool2d<T, D> l;
    return run_layer(l, w, export_mode, img);
  }
  if (name == "l2normalize") {
    L2Normalize<T, D> l;
    return run_layer(l, w, export_mode, Shape{6, 33});
  }
  if (name == "upsample_nearest") {
    UpsampleNearest<T, D> l(17, 20);
    return run_layer(l, w, export_mode, img);
  }
  if (name == "squeeze_excitation") {
    SqueezeExcitation<T, D> l(32, 4);
    return run_layer(l, w, export_mode, Shape{2, 32, 5, 6});
  }
  if (name == "sequential_conv_bn_prelu") {
    Sequential l{Conv2d<T, D>(8, 16, Conv2dOptions::k(3).padded(1)), BatchNorm2d<T, D>(16), PReLU<T, D>(16),
                 MaxPool2d<T, D>(2, 2, 0)};
    return run_layer(l, w, export_mode, img);
  }
  if (name == "cross_entropy") {
    CrossEntropyLoss<T, D> loss;
    const Tensor<T, D> logits = detail::input<D>(Shape{9, 13}, 31, -4.0, 4.0);
    std::vector<int64_t> labels(9);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>((i * 5) % 13);
    HostRun r;
    const T value = loss.forward(logits, labels);
    r.output_names = {"loss", "dlogits"};
    r.outputs = {{value}, detail::host(loss.backward(T(0.5)))};
    return r;
  }
  if (name == "smooth_l1_sum" || name == "smooth_l1_mean") {
    SmoothL1Loss<T, D> loss(1.0, name == "smooth_l1_sum" ? Reduction::sum : Reduction::mean);
    const Tensor<T, D> pred = detail::input<D>(Shape{7, 10}, 32, -3.0, 3.0), target = detail::input<D>(Shape{7, 10}, 33);
    HostRun r;
    const T value = loss.forward(pred, target);
    r.output_names = {"loss", "dpred"};
    r.outputs = {{value}, detail::host(loss.backward(T(1)))};
    return r;
  }
  rfcf::fail<ConfigError>("run_layer_case: unknown case ", name);
}

template <class D>
HostRun run_model_case(const std::string& name, HostWeights& w, bool export_mode) {
  using T = float;
  if (name == "retinaface_mnet025_eval" || name == "retinaface_mnet025_train") {
    models::RetinaFace<models::MobileNetV1025, D> net;
    detail::sync_weights(net, w, export_mode);
    const bool train = name == "retinaface_mnet025_train";
    HostRun r;
    r.output_names = {"loc", "conf", "landms"};
    if (!train) {
      nn::NoGradGuard no_grad;
      net.train(false);
      const auto out = net.forward(detail::input<D>(Shape{1, 3, 96, 128}, 41));
      r.outputs = {detail::host(out.loc), detail::host(out.conf), detail::host(out.landms)};
      return r;
    }
    net.train(true);
    const auto out = net.forward(detail::input<D>(Shape{2, 3, 64, 64}, 42));
    models::RetinaFaceOutput<T, D> d{detail::input<D>(out.loc.shape(), 43), detail::input<D>(out.conf.shape(), 44),
                                     detail::input<D>(out.landms.shape(), 45)};
    net.backward(d);
    r.outputs = {detail::host(out.loc), detail::host(out.conf), detail::host(out.landms)};
    detail::collect_grads(net, r);
    return r;
  }
  if (name == "mobilefacenet_train") {
    models::MobileFaceNetOptions o;
    o.input_h = 64, o.input_w = 48;
    models::MobileFaceNet<T, D> net(o);
    return detail::run_layer(net, w, export_mode, Shape{4, 3, 64, 48});
  }
  if (name == "iresnet18_train") {
    models::IResNetOptions o;
    o.depth = 18;
    o.embedding_size = 64;
    o.input_h = o.input_w = 32;
    models::IResNet<T, D> net(o);
    return detail::run_layer(net, w, export_mode, Shape{4, 3, 32, 32});
  }
  rfcf::fail<ConfigError>("run_model_case: unknown case ", name);
}

// The cpu runs (cpu_cases.cpp): import the weights the cuda run exported.
HostRun layer_case_cpu(const std::string& name, const HostWeights& w);
HostRun model_case_cpu(const std::string& name, const HostWeights& w);

}  // namespace rfcf::test
