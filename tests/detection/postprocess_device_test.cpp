// The device post-processing (sorted candidates, decode functor, bitmask NMS) run through the
// cpu executor against the host post-processing: the functor math the GPU runs, checked here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "rfcf/cpu.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/io/safetensors.hpp"

using namespace rfcf;
using namespace rfcf::detection;

namespace {
const std::string kFixtures = std::string(RFCF_SHARED_DIR) + "/fixtures/retinaface/";

void require_same(const std::vector<Detection>& a, const std::vector<Detection>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("detection " << i);
    REQUIRE(a[i].score == b[i].score);
    for (int k = 0; k < 4; ++k) REQUIRE(a[i].box[k] == b[i].box[k]);
    for (int k = 0; k < 10; ++k) REQUIRE(a[i].landmarks[k] == b[i].landmarks[k]);
  }
}

// Random head outputs over real priors; coarse scores give many exact ties.
struct Heads {
  int64_t n;
  std::vector<float> loc, conf, landms, priors;
};
Heads random_heads(int64_t h, int64_t w, uint64_t seed) {
  Heads r;
  const auto p = make_priors(PriorBoxOptions::official(), h, w);
  r.n = p.dim(0);
  r.priors = p.to_vector();
  std::mt19937 g(static_cast<uint32_t>(seed));
  std::normal_distribution<float> normal(0.0f, 0.7f);
  std::uniform_int_distribution<int> level(0, 40);
  for (int64_t i = 0; i < r.n; ++i) {
    for (int k = 0; k < 4; ++k) r.loc.push_back(normal(g));
    for (int k = 0; k < 10; ++k) r.landms.push_back(normal(g));
    const float face = static_cast<float>(level(g)) / 40.0f;
    r.conf.push_back(1.0f - face);
    r.conf.push_back(face);
  }
  return r;
}
}  // namespace

TEST_CASE("SortOp<cpu>: stable descending order with indices, per run") {
  std::vector<float> keys = {0.5f, 2.0f, 0.5f, -1.0f, 2.0f, 0.5f};
  auto k = Tensor<float, cpu>::from_host(Shape{6}, keys);
  Tensor<float, cpu> sorted(Shape{6});
  Tensor<int32_t, cpu> index(Shape{6});
  ops::sort_descending(k, sorted, index);
  CHECK(index.to_vector() == std::vector<int32_t>{1, 4, 0, 2, 5, 3});
  CHECK(sorted.to_vector() == std::vector<float>{2.0f, 2.0f, 0.5f, 0.5f, 0.5f, -1.0f});

  auto rows = Tensor<float, cpu>::from_host(Shape{2, 3}, keys);
  Tensor<float, cpu> rs(Shape{2, 3});
  Tensor<int32_t, cpu> ri(Shape{2, 3});
  ops::segmented_sort_descending(rows, rs, ri);
  CHECK(ri.to_vector() == std::vector<int32_t>{1, 0, 2, 1, 2, 0});
  CHECK(rs.to_vector() == std::vector<float>{2.0f, 0.5f, 0.5f, 2.0f, 0.5f, -1.0f});
  Tensor<int32_t, cpu> short_index(Shape{5});
  CHECK_THROWS_AS(ops::sort_descending(k, sorted, short_index), ShapeError);
}

TEST_CASE("bitmask NMS equals greedy NMS on random overlapping boxes") {
  std::mt19937 g(3);
  std::uniform_real_distribution<float> pos(0.0f, 200.0f), size(5.0f, 60.0f);
  for (int64_t n : {1, 63, 64, 65, 300}) {
    std::vector<float> boxes;
    for (int64_t i = 0; i < n; ++i) {
      const float x = pos(g), y = pos(g);
      boxes.insert(boxes.end(), {x, y, x + size(g), y + size(g)});
    }
    for (float thr : {0.0f, 0.3f, 0.4f, 0.7f}) {
      const int64_t words = (n + 63) / 64;
      std::vector<uint64_t> mask(static_cast<size_t>(n * words));
      Executor<cpu>::for_each(n * words, postproc::NmsMask{boxes.data(), n, words, thr, mask.data()});
      INFO("n " << n << " threshold " << thr);
      CHECK(postproc::nms_keep_from_mask(mask.data(), n, words) == nms_plus_one(boxes.data(), n, 4, thr));
    }
  }
}

TEST_CASE("postprocess_on_device<cpu> equals the host post-processing") {
  SECTION("kids_raw fixture, batch of two with different resize factors") {
    auto st = io::read_safetensors(kFixtures + "kids_raw.safetensors");
    auto two = [&](const char* name) {
      const auto& e = st.at(name);
      std::vector<float> v = e.as_float(), both = v;
      both.insert(both.end(), v.begin(), v.end());
      return Tensor<float, cpu>::from_host(Shape{2, e.shape[0], e.shape[1]}, both);
    };
    const auto loc = two("loc"), conf = two("conf"), landms = two("landms");
    const auto priors = Tensor<float, cpu>::from_host(Shape(st.at("priors").shape), st.at("priors").as_float());
    const auto host = postprocess(loc, conf, landms, priors, 1024, 768, {1.0, 0.5});
    const auto device = postprocess_on_device<cpu>(loc, conf, landms, priors, 1024, 768, {1.0, 0.5});
    REQUIRE(host[0].size() == 10);
    require_same(device[0], host[0]);
    require_same(device[1], host[1]);
  }
  SECTION("random heads with ties: thresholds, top_k, keep_top_k, no landmarks") {
    const Heads r = random_heads(240, 320, 11);
    for (auto [thr, top_k, keep] : {std::tuple{0.02f, int64_t(5000), int64_t(750)}, std::tuple{0.5f, int64_t(-1), int64_t(-1)},
                                    std::tuple{0.9f, int64_t(100), int64_t(20)}, std::tuple{1.0f, int64_t(10), int64_t(5)}}) {
      PostprocessOptions o;
      o.conf_threshold = thr;
      o.top_k = top_k;
      o.keep_top_k = keep;
      INFO("threshold " << thr << " top_k " << top_k << " keep_top_k " << keep);
      const auto host = postprocess(r.loc.data(), r.conf.data(), r.landms.data(), r.priors.data(), r.n, 320, 240, 0.8, o);
      const auto device =
          postprocess_on_device<cpu>(r.loc.data(), r.conf.data(), r.landms.data(), r.priors.data(), r.n, 320, 240, 0.8, o);
      if (thr < 1.0f) REQUIRE(!host.empty());
      require_same(device, host);
      require_same(postprocess_on_device<cpu>(r.loc.data(), r.conf.data(), nullptr, r.priors.data(), r.n, 320, 240, 0.8, o),
                   postprocess(r.loc.data(), r.conf.data(), nullptr, r.priors.data(), r.n, 320, 240, 0.8, o));
    }
  }
  SECTION("bad shapes are reported") {
    Tensor<float, cpu> loc(Shape{1, 10, 4}), conf(Shape{1, 10, 2}), priors(Shape{9, 4});
    CHECK_THROWS_AS(postprocess_on_device<cpu>(loc, conf, Tensor<float, cpu>(), priors, 10, 10), ShapeError);
  }
}
