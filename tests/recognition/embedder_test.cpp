// Embedding pipeline: window/normalisation/flip against hand-built inputs, and the CASIA
// MobileFaceNet checkpoint against the reference values of recognition.md 7.6.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "rfcf/cpu.hpp"
#include "rfcf/io.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/recognition/embedder.hpp"

using namespace rfcf;
using namespace rfcf::recognition;

namespace {
const std::string kShared = RFCF_SHARED_DIR;

// A tiny "model": global average of each channel, so embeddings are easy to predict by hand.
struct ChannelMeans {
  using value_type = float;
  using device_type = cpu;
  bool training = true;
  void train(bool on) { training = on; }
  Tensor<float, cpu> forward(const Tensor<float, cpu>& x) {
    Tensor<float, cpu> y(Shape{x.n(), 3 * x.w()});
    // per channel: mean over rows, kept per column so that flips are visible
    for (int64_t n = 0; n < x.n(); ++n)
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t j = 0; j < x.w(); ++j) {
          double s = 0;
          for (int64_t i = 0; i < x.h(); ++i) s += x.data()[((n * 3 + c) * x.h() + i) * x.w() + j];
          y.data()[n * 3 * x.w() + c * x.w() + j] = static_cast<float>(s / double(x.h()));
        }
    return y;
  }
};

io::Image ramp(int w, int h, io::ColorOrder order) {
  io::Image img(w, h, 3, order);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(x, y)[c] = static_cast<uint8_t>(10 * x + 3 * c + y);
  return img;
}
}  // namespace

TEST_CASE("Embedder: window, normalisation, channel order, flip modes, L2", "[recognition][embedder]") {
  ChannelMeans model;
  EmbedderOptions o;
  o.crop_x = 1;
  o.crop_w = 2;
  o.mean = {10.f, 20.f, 30.f};
  o.scale = {1.f, 0.5f, 0.25f};
  Embedder<ChannelMeans> e(model, o);
  CHECK_FALSE(model.training);
  const io::Image rgb = ramp(4, 3, io::ColorOrder::RGB);
  // column x of the window is image column x + 1; row mean of (10(x+1) + 3c + y) is 10(x+1) + 3c + 1
  auto expect = [&](int c, int x) { return (10.0 * (x + 1) + 3 * c + 1 - o.mean[c]) * o.scale[c]; };
  Tensor<float, cpu> f = e.embed(rgb);
  REQUIRE(f.shape() == Shape{1, 6});
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x) CHECK(f.data()[c * 2 + x] == Approx(expect(c, x)));
  // A BGR image with the same colours gives the same embedding.
  io::Image bgr = io::to_bgr(rgb);
  Tensor<float, cpu> fb = e.embed(bgr);
  for (int i = 0; i < 6; ++i) CHECK(fb.data()[i] == f.data()[i]);

  o.flip = FlipMode::concat;
  Tensor<float, cpu> fc = Embedder<ChannelMeans>(model, o).embed(std::vector<io::Image>{rgb, rgb, rgb});
  REQUIRE(fc.shape() == Shape{3, 12});
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x) {
      CHECK(fc.data()[2 * 12 + c * 2 + x] == Approx(expect(c, x)));
      CHECK(fc.data()[2 * 12 + 6 + c * 2 + x] == Approx(expect(c, 1 - x)));
    }
  o.flip = FlipMode::sum;
  o.l2_normalize = true;
  o.batch_size = 2;
  Tensor<float, cpu> fs = Embedder<ChannelMeans>(model, o).embed(std::vector<io::Image>{rgb, rgb, rgb});
  REQUIRE(fs.shape() == Shape{3, 6});
  double norm = 0;
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x) norm += std::pow(expect(c, x) + expect(c, 1 - x), 2);
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x)
      CHECK(fs.data()[2 * 6 + c * 2 + x] == Approx((expect(c, x) + expect(c, 1 - x)) / std::sqrt(norm)));

  o.crop_w = 4;  // 1 + 4 > 4 columns
  CHECK_THROWS_AS(Embedder<ChannelMeans>(model, o).embed(rgb), ShapeError);
  CHECK_THROWS_AS(Embedder<ChannelMeans>(model, o).embed(std::vector<io::Image>{}), ShapeError);
  CHECK_THROWS_AS(parse_flip_mode("both"), ConfigError);
}

TEST_CASE("MobileFaceNet CASIA checkpoint: strict load and recognition.md 7.6 reference values",
          "[recognition][embedder][weights]") {
  models::MobileFaceNet<float, cpu> net;
  const nn::LoadReport r = nn::load_pytorch(net, kShared + "/models/mobilefacenet_casia.ckpt");
  CHECK(r.ok());
  CHECK(r.loaded == 333);

  Embedder<models::MobileFaceNet<float, cpu>> e(net, EmbedderOptions::casia_mobilefacenet());
  const std::string root = kShared + "/lfw/lfw_112x112/";
  const io::Image abel = io::read_image(root + "Abel_Pacheco/Abel_Pacheco_0001.jpg");
  Tensor<float, cpu> f = e.embed(abel);
  REQUIRE(f.shape() == Shape{1, 256});
  const double ref[4] = {0.21874826, -0.47955495, -0.80616951, 0.58976305};
  const double ref_flip[4] = {0.20756242, -0.26126713, -1.12099731, 0.51882917};
  double norm = 0;
  for (int j = 0; j < 128; ++j) norm += double(f.data()[j]) * f.data()[j];
  CHECK(std::sqrt(norm) == Approx(5.33575).epsilon(1e-3));
  for (int j = 0; j < 4; ++j) {
    CHECK(f.data()[j] == Approx(ref[j]).margin(2e-3));
    CHECK(f.data()[128 + j] == Approx(ref_flip[j]).margin(2e-3));
  }

  // P1 cosines of the first three same pairs and the first three different pairs (lines 302-304).
  const LfwPairs pairs = read_lfw_pairs(kShared + "/lfw/pairs.txt");
  const double ref_cos[6] = {0.603095, 0.855801, 0.733038, 0.061383, -0.056398, -0.082136};
  const size_t idx[6] = {0, 1, 2, 300, 301, 302};
  for (int k = 0; k < 6; ++k) {
    const LfwPair& p = pairs.pairs[idx[k]];
    CHECK(p.same == (k < 3));
    Tensor<float, cpu> ab =
        e.embed(std::vector<io::Image>{io::read_image(root + p.path1()), io::read_image(root + p.path2())});
    CHECK(cosine_similarity(ab.data(), ab.data() + 256, 256) == Approx(ref_cos[k]).margin(1e-3));
  }
}

TEST_CASE("MobileFaceNet CASIA on LFW fold 1: P1 accuracy at the reference threshold (recognition.md 7.6)",
          "[recognition][embedder][weights][lfw]") {
  models::MobileFaceNet<float, cpu> net;
  nn::load_pytorch(net, kShared + "/models/mobilefacenet_casia.ckpt");
  Embedder<models::MobileFaceNet<float, cpu>> e(net, EmbedderOptions::casia_mobilefacenet());
  const std::string root = kShared + "/lfw/lfw_112x112/";
  const LfwPairs pairs = read_lfw_pairs(kShared + "/lfw/pairs.txt");
  std::vector<double> cos;
  std::vector<uint8_t> same;
  double same_sum = 0, diff_sum = 0;
  for (size_t i = 0; i < 600; i += 50) {  // 12 batches of 50 pairs (100 crops, 200 with the flips)
    std::vector<io::Image> imgs;
    for (size_t j = i; j < i + 50; ++j) {
      imgs.push_back(io::read_image(root + pairs.pairs[j].path1()));
      imgs.push_back(io::read_image(root + pairs.pairs[j].path2()));
    }
    const Tensor<float, cpu> f = e.embed(imgs);
    for (size_t j = 0; j < 50; ++j) {
      cos.push_back(cosine_similarity(f.data() + 2 * j * 256, f.data() + (2 * j + 1) * 256, 256));
      same.push_back(pairs.pairs[i + j].same ? 1 : 0);
      (same.back() ? same_sum : diff_sum) += cos.back();
    }
  }
  // Fold 1 P1: threshold 0.29056 (chosen on folds 2-10) gives 98.67% = 592 / 600 correct.
  CHECK(accuracy_at(cos, same, 0.29056, ScoreRule::similarity_strict, {}) == Approx(592.0 / 600).margin(1.5 / 600));
  INFO("mean cosine same " << same_sum / 300 << ", different " << diff_sum / 300);
  CHECK(same_sum / 300 > 0.55);
  CHECK(diff_sum / 300 < 0.1);
}

TEST_CASE("Embedder::embed_stream equals embed for every batch size; bad arguments", "[recognition][embedder]") {
  ChannelMeans model;
  std::vector<io::Image> images;
  for (int k = 0; k < 5; ++k) {
    io::Image img = ramp(4, 3, io::ColorOrder::RGB);
    img.at(k % 4, 1)[0] = static_cast<uint8_t>(200 + k);  // every image differs
    images.push_back(img);
  }
  EmbedderOptions o;
  o.flip = FlipMode::concat;
  o.l2_normalize = true;
  for (int bs : {1, 2, 5, 9}) {
    o.batch_size = bs;
    Embedder<ChannelMeans> e(model, o);
    const Tensor<float, cpu> ref = e.embed(images);
    REQUIRE(ref.shape() == Shape{5, 24});
    REQUIRE(e.embed_stream(images, static_cast<size_t>(bs)).to_vector() == ref.to_vector());
    // each row is the embedding of its image alone
    for (size_t i = 0; i < images.size(); ++i) {
      const auto one = e.embed(images[i]).to_vector();
      const auto row = ref.slice_batch(int64_t(i), 1).to_vector();
      for (size_t j = 0; j < one.size(); ++j) REQUIRE(row[j] == Approx(one[j]).epsilon(1e-6));
    }
    CHECK(e.captured_shapes() == 0);
  }
  Embedder<ChannelMeans> e(model, o);
  CHECK_THROWS_AS(e.embed_stream({}, 2), ConfigError);
  CHECK_THROWS_AS(e.embed_stream(images, 0), ConfigError);
}
