#pragma once
// Embedding pipeline (recognition.md 7.5, 8.2, 10.2): aligned crop (io::Image) -> optional
// window -> per-channel normalisation (x - mean) * scale -> backbone (eval mode, no grad) ->
// optional flip test (sum or concat) -> optional L2 normalisation. Works with any model that has
// forward(Tensor<T, D>) -> [N, d] and train(bool) (MobileFaceNet, IResNet, ...). Images are
// converted on the host and moved to the model's device; results come back on the host.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/staging.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/image_ops.hpp"
#include "rfcf/nn/captured_forward.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/recognition/embeddings.hpp"

namespace rfcf::recognition {

enum class FlipMode {
  none,    // f(x)
  sum,     // f(x) + f(flip(x))           (insightface, 10.2)
  concat,  // [f(x) | f(flip(x))], raw    (CASIA MobileFaceNet, 7.5)
};

inline FlipMode parse_flip_mode(const std::string& s) {
  if (s == "none") return FlipMode::none;
  if (s == "sum") return FlipMode::sum;
  if (s == "concat") return FlipMode::concat;
  fail<ConfigError>("unknown flip mode '", s, "' (expected none, sum or concat)");
}

struct EmbedderOptions {
  // Window [crop_x, crop_x + crop_w) x [crop_y, crop_y + crop_h) taken from every image; a width or
  // height of 0 means "up to the image edge". CASIA MobileFaceNet on 112x112 LFW crops: x 0, w 96.
  int crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;
  // Applied to RGB planes. Default: the CASIA MobileFaceNet's (x - 127.5) / 128.
  std::array<float, 3> mean{127.5f, 127.5f, 127.5f};
  std::array<float, 3> scale{1.f / 128.f, 1.f / 128.f, 1.f / 128.f};
  FlipMode flip = FlipMode::none;
  bool l2_normalize = false;
  int batch_size = 64;  // images per forward pass (with flip, the batch holds 2x this many crops)
  // cuda only: replay the model as a CUDA graph, one per batch shape met at least twice (the
  // most recent graph_cache_size shapes are kept). Ignored on the cpu.
  bool cuda_graphs = true;
  int graph_cache_size = 4;

  // insightface / arcface_torch models: (x - 127.5) / 127.5 on 112x112, flip-sum, normalised.
  static EmbedderOptions insightface() {
    EmbedderOptions o;
    o.scale = {1.f / 127.5f, 1.f / 127.5f, 1.f / 127.5f};
    o.flip = FlipMode::sum;
    o.l2_normalize = true;
    return o;
  }
  // shared/models/mobilefacenet_casia.ckpt on 112x112 LFW crops (7.4, 7.5): columns 0..95, concat.
  static EmbedderOptions casia_mobilefacenet() {
    EmbedderOptions o;
    o.crop_w = 96;
    o.crop_h = 112;
    o.flip = FlipMode::concat;
    return o;
  }
};

template <class Model>
class Embedder {
 public:
  using T = typename Model::value_type;
  using D = typename Model::device_type;

  // The embedder keeps a reference: the model must outlive it. The model is put in eval mode.
  Embedder(Model& model, EmbedderOptions o = {})
      : model_(model), o_(o), graphs_(model, static_cast<size_t>(std::max(o.graph_cache_size, 1))) {
    check<ConfigError>(o_.batch_size > 0, "Embedder: batch_size must be positive, got ", o_.batch_size);
    check<ConfigError>(o_.crop_x >= 0 && o_.crop_y >= 0 && o_.crop_w >= 0 && o_.crop_h >= 0,
                       "Embedder: negative crop window");
    model_.train(false);
  }

  const EmbedderOptions& options() const { return o_; }

  // The network input for one image: the window, as RGB, normalised: [1, 3, h, w] on the host.
  Tensor<float, cpu> preprocess(const io::Image& img) const {
    Tensor<float, cpu> t(Shape{1, 3, window_h(img), window_w(img)});
    fill_input(img, false, t.data());
    return t;
  }

  // Embeddings of the images as rows [N, d'] on the host (d' = 2d with concat), computed in
  // groups of options().batch_size images (embed_stream).
  Tensor<T, cpu> embed(const std::vector<io::Image>& images) {
    check<ShapeError>(!images.empty(), "Embedder::embed: no images");
    return run_groups(images, static_cast<size_t>(o_.batch_size));
  }
  Tensor<T, cpu> embed(const io::Image& img) { return embed(std::vector<io::Image>{img}); }

  // Embeddings computed in groups of batch_size images, pipelined on cuda: while the model runs
  // on group i, the host prepares group i + 1 and uploads it (pinned memory, a copy stream).
  // Equals embed() with options().batch_size == batch_size. Sequential on the cpu.
  Tensor<T, cpu> embed_stream(const std::vector<io::Image>& images, size_t batch_size) {
    check<ConfigError>(!images.empty(), "Embedder::embed_stream: no images");
    check<ConfigError>(batch_size > 0, "Embedder::embed_stream: batch_size must be positive");
    return run_groups(images, batch_size);
  }

  // Input shapes with a captured CUDA graph (0 on the cpu or with cuda_graphs off).
  size_t captured_shapes() const { return std::is_same_v<D, cpu> ? 0 : graphs_.size(); }
  // Drops the captured graphs (needed after replacing the model's weight tensors).
  void clear_graphs() { graphs_.clear(); }

  // Raw network output for already normalised inputs [N, 3, h, w] (no flip, no normalisation;
  // always eager, never a CUDA graph).
  Tensor<T, cpu> forward(const Tensor<float, cpu>& x) {
    nn::NoGradGuard no_grad;
    Tensor<T, cpu> xt(x.shape());
    std::copy(x.data(), x.data() + x.numel(), xt.data());
    return model_.forward(xt.template to<D>()).template to<cpu>();
  }

 private:
  int window_w(const io::Image& img) const { return o_.crop_w ? o_.crop_w : img.width - o_.crop_x; }
  int window_h(const io::Image& img) const { return o_.crop_h ? o_.crop_h : img.height - o_.crop_y; }

  // Writes the normalised RGB planes of the window (mirrored when flip) to dst.
  template <class U>
  void fill_input(const io::Image& img, bool flip, U* dst) const {
    check<ShapeError>(img.channels == 3, "Embedder: expected a colour image, got ", img.channels, " channel(s)");
    const int w = window_w(img), h = window_h(img);
    check<ShapeError>(w > 0 && h > 0 && o_.crop_x + w <= img.width && o_.crop_y + h <= img.height,
                      "Embedder: window x ", o_.crop_x, " y ", o_.crop_y, " w ", w, " h ", h, " does not fit a ",
                      img.width, "x", img.height, " image");
    const bool bgr = img.order == io::ColorOrder::BGR;
    const size_t plane = static_cast<size_t>(w) * static_cast<size_t>(h);
    for (int c = 0; c < 3; ++c) {
      const int src_c = bgr ? 2 - c : c;
      const float m = o_.mean[static_cast<size_t>(c)], s = o_.scale[static_cast<size_t>(c)];
      U* out = dst + static_cast<size_t>(c) * plane;
      for (int y = 0; y < h; ++y) {
        const uint8_t* row = img.at(o_.crop_x, o_.crop_y + y);
        for (int x = 0; x < w; ++x) {
          const int sx = flip ? w - 1 - x : x;
          out[static_cast<size_t>(y) * static_cast<size_t>(w) + static_cast<size_t>(x)] =
              static_cast<U>((static_cast<float>(row[sx * 3 + src_c]) - m) * s);
        }
      }
    }
  }

  // Groups of batch_size images: group g + 1 is prepared and uploaded while the model runs on g.
  Tensor<T, cpu> run_groups(const std::vector<io::Image>& images, size_t batch_size) {
    const size_t groups = (images.size() + batch_size - 1) / batch_size;
    Tensor<T, cpu> out;
    auto bounds = [&](size_t g) {
      return std::pair<size_t, size_t>{g * batch_size, std::min(images.size(), (g + 1) * batch_size)};
    };
    Shape shapes[2];
    auto stage_group = [&](size_t g) {
      auto [begin, end] = bounds(g);
      shapes[g % 2] = prepare(images, begin, end, stages_[g % 2]);
    };
    stage_group(0);
    for (size_t g = 0; g < groups; ++g) {
      const Tensor<T, D> y = forward_stage(stages_[g % 2], shapes[g % 2]);  // queued, not waited for
      if (g + 1 < groups) stage_group(g + 1);                                // overlaps the forward of g
      auto [begin, end] = bounds(g);
      const Tensor<T, cpu> f = finish(y.template to<cpu>(), static_cast<int64_t>(end - begin));
      if (g == 0) out = Tensor<T, cpu>(Shape{static_cast<int64_t>(images.size()), f.dim(1)});
      std::copy(f.data(), f.data() + f.numel(), out.data() + static_cast<int64_t>(begin) * f.dim(1));
    }
    return out;
  }

  // Writes the inputs of images[begin, end) (originals, then mirrored crops with flip: one
  // forward pass for both) into the stage and starts the upload; returns the batch shape.
  Shape prepare(const std::vector<io::Image>& images, size_t begin, size_t end, UploadStage<T, D>& stage) {
    const int64_t n = static_cast<int64_t>(end - begin);
    const int w = window_w(images[begin]), h = window_h(images[begin]);
    for (size_t i = begin; i < end; ++i)
      check<ShapeError>(window_w(images[i]) == w && window_h(images[i]) == h, "Embedder: image ", i, " is ",
                        images[i].width, "x", images[i].height, ", unlike image ", begin, " (",
                        images[begin].width, "x", images[begin].height, ")");
    const bool flip = o_.flip != FlipMode::none;
    const Shape shape{flip ? 2 * n : n, 3, h, w};
    T* x = stage.host(shape);
    const size_t per = static_cast<size_t>(3 * w * h);
    for (int64_t i = 0; i < n; ++i) {
      fill_input(images[begin + static_cast<size_t>(i)], false, x + static_cast<size_t>(i) * per);
      if (flip) fill_input(images[begin + static_cast<size_t>(i)], true, x + static_cast<size_t>(n + i) * per);
    }
    stage.upload();
    return shape;
  }

  // Queues the model on the staged batch (a graph replay on cuda when enabled); the result is
  // valid until the next forward_stage.
  Tensor<T, D> forward_stage(UploadStage<T, D>& stage, const Shape& shape) {
    nn::NoGradGuard no_grad;
    const Tensor<T, D> x = stage.device();
    if constexpr (!std::is_same_v<D, cpu>) {
      auto* captured = o_.cuda_graphs ? graphs_.get_if_repeated(shape) : nullptr;
      if (captured) {
        captured->input().copy_from(x);
        stage.done_reading();
        return captured->replay();
      }
    }
    Tensor<T, D> y = model_.forward(x);
    stage.done_reading();
    return y;
  }

  // Flip combination and normalisation of the raw outputs of n images.
  Tensor<T, cpu> finish(Tensor<T, cpu> f, int64_t n) const {
    if (o_.flip != FlipMode::none) {
      Tensor<T, cpu> a = f.slice_batch(0, n).clone(), b = f.slice_batch(n, n).clone();
      f = o_.flip == FlipMode::sum ? flip_sum(a, b) : flip_concat(a, b);
    }
    if (o_.l2_normalize) f = l2_normalize(f);
    return f;
  }

  Model& model_;
  EmbedderOptions o_;
  UploadStage<T, D> stages_[2];
  nn::CapturedForwardCache<Model, D> graphs_;
};

}  // namespace rfcf::recognition
