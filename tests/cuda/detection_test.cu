// Detection on cuda against the cpu: the device sort, the device post-processing on the kids_raw
// head outputs, and the whole detector on kids.jpg and wide.jpg.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda/detector_cpu.hpp"
#include "rfcf/cuda.cuh"
#include "rfcf/ops/cuda/sort.cuh"  // CUB: declares a global namespace cuda, hence rfcf::cuda below
#include "rfcf/detection/detector.hpp"
#include "rfcf/detection/matching_device.hpp"
#include "rfcf/detection/multibox_loss.hpp"
#include "rfcf/detection/postprocess_device.hpp"
#include "rfcf/io/safetensors.hpp"

using namespace rfcf;
using namespace rfcf::detection;

namespace {
const std::string kShared = RFCF_SHARED_DIR;

// Same faces in the same order; the GPU decodes with fused multiply-adds and another expf, so
// coordinates may differ in the last bits (tolerance in pixels), scores are the network's.
void require_close(const std::vector<Detection>& gpu, const std::vector<Detection>& cpu, float min_score,
                   float pixel_tol, float score_tol) {
  auto strong = [&](const std::vector<Detection>& d) {
    std::vector<Detection> r;
    for (const auto& x : d)
      if (x.score >= min_score) r.push_back(x);
    return r;
  };
  const auto a = strong(gpu), b = strong(cpu);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("detection " << i << " score gpu " << a[i].score << " cpu " << b[i].score);
    REQUIRE(std::fabs(a[i].score - b[i].score) <= score_tol);
    for (int k = 0; k < 4; ++k) REQUIRE(std::fabs(a[i].box[k] - b[i].box[k]) <= pixel_tol);
    for (int k = 0; k < 10; ++k) REQUIRE(std::fabs(a[i].landmarks[k] - b[i].landmarks[k]) <= pixel_tol);
  }
}
}  // namespace

TEST_CASE("SortOp<rfcf::cuda> equals the stable cpu order, with ties", "[cuda][detection]") {
  std::mt19937 g(5);
  std::uniform_int_distribution<int> level(0, 50);
  for (int64_t n : {1, 1000, 40000}) {
    std::vector<float> keys(static_cast<size_t>(n));
    for (auto& k : keys) k = static_cast<float>(level(g)) / 7.0f;
    std::vector<int32_t> expect(keys.size());
    for (size_t i = 0; i < expect.size(); ++i) expect[i] = static_cast<int32_t>(i);
    std::stable_sort(expect.begin(), expect.end(), [&](int32_t a, int32_t b) { return keys[a] > keys[b]; });
    auto d = Tensor<float, rfcf::cuda>::from_host(Shape{n}, keys);
    Tensor<float, rfcf::cuda> sorted(Shape{n});
    Tensor<int32_t, rfcf::cuda> index(Shape{n});
    ops::sort_descending(d, sorted, index);
    INFO("n " << n);
    REQUIRE(index.to_vector() == expect);

    // Segmented: 4 runs.
    if (n % 4 == 0) {
      const int64_t len = n / 4;
      auto rows = Tensor<float, rfcf::cuda>::from_host(Shape{4, len}, keys);
      Tensor<float, rfcf::cuda> rs(Shape{4, len});
      Tensor<int32_t, rfcf::cuda> ri(Shape{4, len});
      ops::segmented_sort_descending(rows, rs, ri);
      const auto got = ri.to_vector();
      for (int64_t s = 0; s < 4; ++s) {
        std::vector<int32_t> e(static_cast<size_t>(len));
        for (int64_t i = 0; i < len; ++i) e[size_t(i)] = static_cast<int32_t>(i);
        const float* base = keys.data() + s * len;
        std::stable_sort(e.begin(), e.end(), [&](int32_t a, int32_t b) { return base[a] > base[b]; });
        REQUIRE(std::vector<int32_t>(got.begin() + s * len, got.begin() + (s + 1) * len) == e);
      }
    }
  }
}

TEST_CASE("postprocess_on_device<rfcf::cuda> equals the host post-processing on kids_raw", "[cuda][detection]") {
  auto st = io::read_safetensors(kShared + "/fixtures/retinaface/kids_raw.safetensors");
  const auto loc = st.at("loc").as_float(), conf = st.at("conf").as_float(), landms = st.at("landms").as_float(),
             priors = st.at("priors").as_float();
  const int64_t n = static_cast<int64_t>(priors.size() / 4);
  auto up = [&](const std::vector<float>& v, int64_t cols) { return Tensor<float, rfcf::cuda>::from_host(Shape{1, n, cols}, v); };
  const auto pri = Tensor<float, rfcf::cuda>::from_host(Shape{n, 4}, priors);
  for (double resize : {1.0, 0.5}) {
    const auto gpu = postprocess_on_device<rfcf::cuda>(up(loc, 4), up(conf, 2), up(landms, 10), pri, 1024, 768, {resize});
    const auto cpu_dets = test::postprocess_on_cpu(loc, conf, landms, priors, 1024, 768, resize);
    REQUIRE(gpu[0].size() == cpu_dets.size());
    require_close(gpu[0], cpu_dets, 0.0f, 1e-3f, 0.0f);
  }
}

TEST_CASE("Detector<rfcf::cuda> finds the cpu faces on kids.jpg and wide.jpg", "[cuda][detection]") {
  const std::string weights = kShared + "/models/retinaface_mnet025.pth";
  Detector<models::MobileNetV1025, rfcf::cuda> detector(weights);
  for (const char* name : {"kids.jpg", "wide.jpg"}) {
    SECTION(name) {
      const std::string path = kShared + "/images/" + name;
      const auto gpu = detector.detect(test::read_image_on_cpu(path));
      const auto cpu_dets = test::detect_on_cpu(weights, path);
      // Faces at score >= 0.5 (8 and 413 in the reference): same order, boxes within 0.05 px.
      require_close(gpu, cpu_dets, 0.5f, 0.05f, 1e-4f);
    }
  }
}

TEST_CASE("MultiBoxLoss<cuda> equals the cpu loss, gradients and mined negatives", "[cuda][detection]") {
  const int64_t B = 3, H = 96, W = 128;
  const auto priors = make_priors(PriorBoxOptions::official(), H, W).to_vector();
  const int64_t A = static_cast<int64_t>(priors.size() / 4);
  std::mt19937 g(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random = [&](int64_t count) {
    std::vector<float> v(static_cast<size_t>(count));
    for (auto& x : v) x = normal(g);
    return v;
  };
  const auto loc = random(B * A * 4), conf = random(B * A * 2), landms = random(B * A * 10);
  // Image 0: two faces with landmarks, image 1: one face without (-1), image 2: none.
  std::vector<std::vector<float>> targets(3);
  auto face = [](float x1, float y1, float x2, float y2, bool landmarks) {
    std::vector<float> f = {x1, y1, x2, y2};
    for (int k = 0; k < 5; ++k) {
      f.push_back(landmarks ? x1 + (x2 - x1) * (0.2f + 0.15f * k) : -1.0f);
      f.push_back(landmarks ? y1 + (y2 - y1) * 0.5f : -1.0f);
    }
    f.push_back(landmarks ? 1.0f : -1.0f);
    return f;
  };
  targets[0] = face(0.1f, 0.1f, 0.4f, 0.5f, true);
  const auto second = face(0.5f, 0.3f, 0.7f, 0.6f, true);
  targets[0].insert(targets[0].end(), second.begin(), second.end());
  targets[1] = face(0.3f, 0.2f, 0.8f, 0.9f, false);
  REQUIRE(static_cast<int64_t>(targets[0].size()) == 2 * kFaceFields);

  models::RetinaFaceOutput<float, rfcf::cuda> pred{Tensor<float, rfcf::cuda>::from_host(Shape{B, A, 4}, loc),
                                                   Tensor<float, rfcf::cuda>::from_host(Shape{B, A, 2}, conf),
                                                   Tensor<float, rfcf::cuda>::from_host(Shape{B, A, 10}, landms)};
  MultiBoxLoss<float, rfcf::cuda> loss;
  const auto parts = loss.forward(pred, targets, Tensor<float, cpu>::from_host(Shape{A, 4}, priors));
  const auto grads = loss.backward();
  const auto ref = test::multibox_on_cpu(B, A, loc, conf, landms, targets, priors);
  const double got[4] = {parts.loc, parts.conf, parts.landm, parts.total};
  for (int k = 0; k < 4; ++k) REQUIRE(got[k] == Approx(ref.parts[size_t(k)]).epsilon(1e-5));
  std::vector<float> g_all;
  for (const auto* t : {&grads.loc, &grads.conf, &grads.landms}) {
    const auto v = t->to_vector();
    g_all.insert(g_all.end(), v.begin(), v.end());
  }
  REQUIRE(g_all.size() == ref.grads.size());
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < g_all.size(); ++i) {
    diff = std::max(diff, double(std::fabs(g_all[i] - ref.grads[i])));
    scale = std::max(scale, double(std::fabs(ref.grads[i])));
  }
  REQUIRE(diff / scale < 1e-5);
  REQUIRE(loss.negatives() == ref.negatives);
  REQUIRE(!ref.negatives[0].empty());
  // Priors given on the device: the same result.
  MultiBoxLoss<float, rfcf::cuda> loss2;
  const auto parts2 = loss2.forward(pred, targets, Tensor<float, rfcf::cuda>::from_host(Shape{A, 4}, priors));
  REQUIRE(parts2.total == parts.total);
  REQUIRE(parts2.num_pos == parts.num_pos);
  REQUIRE(loss2.negatives() == loss.negatives());
}

TEST_CASE("match_on_device<rfcf::cuda> equals match_priors on the host", "[cuda][detection]") {
  const auto priors = make_priors(PriorBoxOptions::official(), 640, 640).to_vector();
  const int64_t A = static_cast<int64_t>(priors.size() / 4);
  std::mt19937 g(21);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  // Faces of all kinds: normal, tiny, zero-height, partly outside, without landmarks, duplicated.
  auto image = [&](int faces) {
    std::vector<float> rows;
    for (int f = 0; f < faces; ++f) {
      const float x = u(g) * 1.2f - 0.1f, y = u(g) * 1.2f - 0.1f, kind = u(g);
      float w = 0.01f + 0.4f * u(g) * u(g), h = w * (0.7f + 0.6f * u(g));
      if (kind < 0.1f) w = h = 2e-4f;
      if (kind > 0.95f) h = 0.0f;
      const bool landmarks = u(g) < 0.7f;
      const float box[4] = {x - w / 2, y - h / 2, x + w / 2, y + h / 2};
      rows.insert(rows.end(), box, box + 4);
      for (int k = 0; k < 5; ++k) {
        rows.push_back(landmarks ? box[0] + w * u(g) : -1.0f);
        rows.push_back(landmarks ? box[1] + h * u(g) : -1.0f);
      }
      rows.push_back(landmarks ? 1.0f : -1.0f);
      if (u(g) < 0.1f) {
        const std::vector<float> copy(rows.end() - kFaceFields, rows.end());
        rows.insert(rows.end(), copy.begin(), copy.end());
      }
    }
    return rows;
  };
  std::vector<std::vector<float>> targets;
  for (int faces : {3, 0, 25, 1, 120, 8}) targets.push_back(image(faces));
  const auto dev_priors = Tensor<float, rfcf::cuda>::from_host(Shape{A, 4}, priors);
  for (bool guarded : {false, true}) {
    MatchOptions o;
    o.guarded = guarded;
    const auto gpu = match_on_device<float, rfcf::cuda>(targets, dev_priors, o, true);
    const auto ref = test::match_on_cpu(targets, priors, guarded);
    INFO("guarded " << guarded);
    REQUIRE(gpu.conf.to_vector() == ref.conf);
    REQUIRE(gpu.best_truth.to_vector() == ref.best_truth);
    const auto landm = gpu.landm.to_vector(), loc = gpu.loc.to_vector();
    // Landmark and centre targets: subtractions and divisions only, identical; the size targets
    // go through the device's logf (within 2 ulp of the host's), -inf/NaN for degenerate boxes.
    REQUIRE(std::memcmp(landm.data(), ref.landm.data(), landm.size() * sizeof(float)) == 0);
    for (size_t i = 0; i < loc.size(); ++i) {
      INFO("loc " << i << ": gpu " << loc[i] << " cpu " << ref.loc[i]);
      if (i % 4 < 2 || !std::isfinite(ref.loc[i]))
        REQUIRE(std::memcmp(&loc[i], &ref.loc[i], sizeof(float)) == 0);
      else
        REQUIRE(std::fabs(loc[i] - ref.loc[i]) <= 2.5e-7f * std::max(1.0f, std::fabs(ref.loc[i])));
    }
    int64_t pos = 0;
    for (int64_t c : ref.conf) pos += c != 0;
    REQUIRE(pos > 50);
  }
  // The ignored-faces mask on both devices.
  std::vector<std::vector<float>> ignored;
  for (int faces : {4, 2, 0, 10, 30, 1}) ignored.push_back(image(faces));
  const auto gpu_match = match_on_device<float, rfcf::cuda>(targets, dev_priors);
  const auto cpu_priors = Tensor<float, cpu>::from_host(Shape{A, 4}, priors);
  const auto cpu_match = match_on_device<float, cpu>(targets, cpu_priors);
  const auto gpu_mask = ignore_mask_on_device<rfcf::cuda>(ignored, dev_priors, gpu_match.conf, 0.35).to_vector();
  const auto cpu_mask = ignore_mask_on_device<cpu>(ignored, cpu_priors, cpu_match.conf, 0.35).to_vector();
  REQUIRE(gpu_mask == cpu_mask);
  REQUIRE(std::count(cpu_mask.begin(), cpu_mask.end(), 1) > 0);
}
