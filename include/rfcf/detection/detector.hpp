#pragma once
// Face detection end to end: image -> RetinaFace -> boxes, scores, 5 landmarks.
// Pre-processing as the reference (retinaface.md 9.1): BGR, minus (104, 117, 123), CHW;
// original size by default, or the long side scaled to a given length.
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rfcf/core/staging.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/detection/postprocess_device.hpp"
#include "rfcf/detection/priors.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/resize.hpp"
#include "rfcf/models/mobilenet_v1.hpp"
#include "rfcf/models/retinaface.hpp"
#include "rfcf/nn/captured_forward.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/ops/softmax.hpp"

namespace rfcf::detection {

struct DetectorOptions {
  models::RetinaFaceOptions model = models::RetinaFaceOptions::mobilenet025();
  PostprocessOptions post{};
  // <= 0: run at the original size (the reference default); else scale the long side to it.
  int64_t long_side = 0;
  // cuda only: replay the network as a CUDA graph, one per input shape met at least twice
  // (the first time runs eagerly; the most recent graph_cache_size shapes are kept, each with
  // its activations). Ignored on the cpu.
  bool cuda_graphs = true;
  int graph_cache_size = 4;
};

// Loads RetinaFace weights from a PyTorch checkpoint (.pth legacy or zip, nested or
// prefixed) or from an rfcf safetensors file; every parameter and statistic must be present.
template <class Model>
void load_detector_weights(Model& net, const std::string& path) {
  const nn::LoadOptions strict{.strict = true, .ignore_counters = true};
  if (path.size() > 12 && path.substr(path.size() - 12) == ".safetensors")
    nn::load_safetensors(net, path, strict);
  else
    nn::load_pytorch(net, path, strict);
}

// Float CHW tensor [1, 3, H, W] of a BGR image minus the RetinaFace mean, optionally resized
// (bilinear on the float image, as the reference's resize path).
inline Tensor<float, cpu> retinaface_input(const io::Image& img, double resize) {
  check<ShapeError>(img.channels == 3, "detector: expected a 3-channel image, got ", img.channels);
  const bool bgr = img.order == io::ColorOrder::BGR;
  const float mean[3] = {104.f, 117.f, 123.f};  // B, G, R
  const int64_t h = img.height, w = img.width;
  Tensor<float, cpu> x(Shape{1, 3, h, w});
  float* out = x.data();
  const uint8_t* p = img.data();
  for (int64_t i = 0; i < h * w; ++i, p += 3)
    for (int c = 0; c < 3; ++c) out[c * h * w + i] = float(p[bgr ? c : 2 - c]) - mean[c];
  if (resize == 1.0) return x;
  const int64_t rh = std::lround(double(h) * resize), rw = std::lround(double(w) * resize);
  return io::resize_bilinear(x, rh, rw);
}

template <template <class, class> class Backbone = models::MobileNetV1025, class D = cpu>
class Detector {
 public:
  using Network = models::RetinaFace<Backbone, D>;

  explicit Detector(const std::string& weights, DetectorOptions o = {}) : options_(std::move(o)), net_(options_.model) {
    load_detector_weights(net_, weights);
    net_.fuse_for_inference();
  }
  // Not copyable or movable: the captured graphs refer to net_ by address.
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // The resize factor the detector applies to an image of this size.
  double resize_factor(int width, int height) const {
    if (options_.long_side <= 0) return 1.0;
    return double(options_.long_side) / double(std::max(width, height));
  }

  std::vector<Detection> detect(const io::Image& img) { return detect_batch({img})[0]; }

  // Images of one batch run together (padded bottom-right to the largest size; the padding
  // is zero after mean subtraction, i.e. the mean colour).
  std::vector<std::vector<Detection>> detect_batch(const std::vector<io::Image>& images) {
    check<ConfigError>(!images.empty(), "detect_batch: no images");
    const BatchLayout layout = prepare(images, 0, images.size(), stages_[0]);
    return postprocess_batch(forward_stage(stages_[0], layout), layout);
  }

  // detect_batch over consecutive groups of batch_size images, pipelined on cuda: while the
  // network runs on group i, the host prepares group i + 1 and uploads it (pinned memory, a
  // copy stream). Result k equals detect_batch of the group holding image k (so all of
  // detect_batch(images) when batch_size >= images.size()). Sequential on the cpu.
  std::vector<std::vector<Detection>> detect_stream(const std::vector<io::Image>& images, size_t batch_size) {
    check<ConfigError>(!images.empty(), "detect_stream: no images");
    check<ConfigError>(batch_size > 0, "detect_stream: batch_size must be positive");
    const size_t groups = (images.size() + batch_size - 1) / batch_size;
    std::vector<std::vector<Detection>> results;
    results.reserve(images.size());
    BatchLayout layouts[2];
    auto stage_group = [&](size_t g) {
      const size_t begin = g * batch_size, end = std::min(images.size(), begin + batch_size);
      layouts[g % 2] = prepare(images, begin, end, stages_[g % 2]);
    };
    stage_group(0);
    for (size_t g = 0; g < groups; ++g) {
      auto out = forward_stage(stages_[g % 2], layouts[g % 2]);  // queued, not waited for
      if (g + 1 < groups) stage_group(g + 1);                     // overlaps the forward of g
      for (auto& r : postprocess_batch(out, layouts[g % 2])) results.push_back(std::move(r));
    }
    return results;
  }

  // Priors for a network input size, cached (they depend only on the size).
  const Tensor<float, cpu>& priors(int64_t height, int64_t width) {
    if (prior_size_ != std::pair<int64_t, int64_t>{height, width}) {
      PriorBoxOptions po;
      for (int l = 0; l < 3; ++l) {
        po.min_sizes.push_back({options_.model.min_sizes[l][0], options_.model.min_sizes[l][1]});
        po.steps.push_back(static_cast<int>(options_.model.steps[l]));
      }
      priors_ = make_priors(po, height, width);
      prior_size_ = {height, width};
    }
    return priors_;
  }

  Network& network() { return net_; }
  const DetectorOptions& options() const { return options_; }
  // Input shapes with a captured CUDA graph (always 0 on the cpu or with cuda_graphs off).
  size_t captured_shapes() const { return std::is_same_v<D, cpu> ? 0 : graphs_.size(); }
  // Drops the captured graphs (needed after replacing the network's weight tensors: graphs
  // read the weights by address; changing their values in place needs nothing).
  void clear_graphs() { graphs_.clear(); }

 private:
  using Output = models::RetinaFaceOutput<float, D>;
  struct BatchLayout {
    std::vector<double> factors;
    int64_t height = 0, width = 0;
  };

  // Writes images[begin, end) as one zero-padded batch into the stage and starts its upload.
  BatchLayout prepare(const std::vector<io::Image>& images, size_t begin, size_t end, UploadStage<float, D>& stage) {
    BatchLayout l;
    std::vector<Tensor<float, cpu>> inputs;
    for (size_t i = begin; i < end; ++i) {
      l.factors.push_back(resize_factor(images[i].width, images[i].height));
      inputs.push_back(retinaface_input(images[i], l.factors.back()));
      l.height = std::max(l.height, inputs.back().h());
      l.width = std::max(l.width, inputs.back().w());
    }
    const int64_t H = l.height, W = l.width;
    float* batch = stage.host(Shape{int64_t(inputs.size()), 3, H, W});
    std::fill_n(batch, int64_t(inputs.size()) * 3 * H * W, 0.f);
    for (size_t b = 0; b < inputs.size(); ++b) {
      const auto& x = inputs[b];
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t y = 0; y < x.h(); ++y)
          std::copy_n(x.data() + (c * x.h() + y) * x.w(), x.w(), batch + ((int64_t(b) * 3 + c) * H + y) * W);
    }
    stage.upload();
    return l;
  }

  // Queues the network on the staged batch (a graph replay on cuda when enabled): its outputs
  // are valid until the next forward_stage.
  Output forward_stage(UploadStage<float, D>& stage, const BatchLayout& l) {
    nn::NoGradGuard no_grad;
    const Tensor<float, D> x = stage.device();
    Output out;
    if constexpr (!std::is_same_v<D, cpu>) {
      auto* captured = options_.cuda_graphs
                           ? graphs_.get_if_repeated(Shape{int64_t(l.factors.size()), 3, l.height, l.width})
                           : nullptr;
      if (captured) {
        captured->input().copy_from(x);
        stage.done_reading();
        return captured->replay();
      }
    }
    out = net_.forward(x);
    stage.done_reading();
    return out;
  }

  std::vector<std::vector<Detection>> postprocess_batch(const Output& out, const BatchLayout& l) {
    const int64_t H = l.height, W = l.width;
    PostprocessOptions post = options_.post;
    post.variances = {options_.model.variances[0], options_.model.variances[1]};
    if constexpr (std::is_same_v<D, cpu>) {
      return postprocess(out.loc, ops::softmax(out.conf), out.landms, priors(H, W), W, H, l.factors, post);
    } else {
      // Post-processing stays on the device: only candidates and the NMS mask come back.
      if (device_prior_size_ != std::pair<int64_t, int64_t>{H, W}) {
        device_priors_ = priors(H, W).template to<D>();
        device_prior_size_ = {H, W};
      }
      return postprocess_on_device<D>(out.loc, ops::softmax(out.conf), out.landms, device_priors_, W, H, l.factors,
                                      post);
    }
  }

  DetectorOptions options_;
  Network net_;
  UploadStage<float, D> stages_[2];
  nn::CapturedForwardCache<Network, D> graphs_{net_, static_cast<size_t>(std::max(options_.graph_cache_size, 1))};
  Tensor<float, cpu> priors_;
  std::pair<int64_t, int64_t> prior_size_{-1, -1};
  Tensor<float, D> device_priors_;
  std::pair<int64_t, int64_t> device_prior_size_{-1, -1};
};

}  // namespace rfcf::detection
