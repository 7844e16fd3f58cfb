// The device-generic matcher (match_on_device<cpu>, matching_functors.hpp) against the host
// reference match_priors, bit for bit: random batches built to hit the corner cases (ties,
// duplicates, tiny / degenerate / outside boxes, faces without landmarks, images without faces,
// NaN IoUs from zero-size priors), real WIDER val faces on the 640x640 priors, and the
// ignored-faces mask against a naive loop.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/data/wider_labels.hpp"
#include "rfcf/detection/matching.hpp"
#include "rfcf/detection/matching_device.hpp"
#include "rfcf/detection/priors.hpp"

using namespace rfcf;
using namespace rfcf::detection;

namespace {

// One gt row: box, landmarks (or -1 when label is -1), label.
template <class T>
void add_face(std::vector<T>& rows, T x1, T y1, T x2, T y2, bool landmarks, std::mt19937& g) {
  std::uniform_real_distribution<double> u(0, 1);
  const T r[4] = {x1, y1, x2, y2};
  rows.insert(rows.end(), r, r + 4);
  for (int k = 0; k < 5; ++k) {
    rows.push_back(landmarks ? static_cast<T>(x1 + (x2 - x1) * u(g)) : T(-1));
    rows.push_back(landmarks ? static_cast<T>(y1 + (y2 - y1) * u(g)) : T(-1));
  }
  rows.push_back(landmarks ? T(1) : T(-1));
}

// Image b of a random batch; sizes chosen so that every corner case appears.
template <class T>
std::vector<T> random_image(int64_t faces, std::mt19937& g) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<T> rows;
  for (int64_t f = 0; f < faces; ++f) {
    const double kind = u(g);
    const double x = u(g) * 1.2 - 0.1, y = u(g) * 1.2 - 0.1;  // some centres outside [0, 1]
    double w = 0.02 + 0.5 * u(g) * u(g), h = w * (0.7 + 0.6 * u(g));
    if (kind < 0.1) w = h = 1e-4 * (1 + u(g));  // tiny
    if (kind >= 0.1 && kind < 0.15) h = 0;      // degenerate: zero height
    if (kind >= 0.15 && kind < 0.18) w = -0.05;  // degenerate: negative width
    add_face<T>(rows, T(x - w / 2), T(y - h / 2), T(x + w / 2), T(y + h / 2), u(g) < 0.7, g);
    if (u(g) < 0.15 && !rows.empty()) {  // a duplicate of an earlier face (maybe with another label)
      const int64_t n = static_cast<int64_t>(rows.size()) / kFaceFields;
      const int64_t src = std::uniform_int_distribution<int64_t>(0, n - 1)(g);
      std::vector<T> copy(rows.begin() + src * kFaceFields, rows.begin() + (src + 1) * kFaceFields);
      if (u(g) < 0.5) copy[14] = -copy[14];
      rows.insert(rows.end(), copy.begin(), copy.end());
    }
  }
  return rows;
}

// Small priors (64x64 input, small anchors), plus duplicated rows (argmax ties over priors) and
// zero-size priors (IoU 0/0 = NaN against zero-area boxes).
std::vector<float> test_priors() {
  std::vector<float> p = make_priors(PriorBoxOptions{{{4, 8}, {12, 16}, {24, 48}}, {8, 16, 32}, false}, 64, 64)
                             .to_vector();
  const std::vector<float> zero = {0.5f, 0.5f, 0.0f, 0.0f};
  p.insert(p.begin(), zero.begin(), zero.end());
  const std::vector<float> copy(p.begin() + 40, p.begin() + 80);  // 10 priors again
  p.insert(p.end(), copy.begin(), copy.end());
  p.insert(p.end(), zero.begin(), zero.end());
  return p;
}

// Bitwise equality (NaN == NaN, -0 != +0): the same operations in the same order.
template <class V>
bool same_bits(const std::vector<V>& a, const std::vector<V>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(V)) == 0;
}

template <class T, class U>
void require_match_equals_host(const std::vector<std::vector<U>>& targets, const std::vector<float>& priors,
                               const MatchOptions& o) {
  const int64_t B = static_cast<int64_t>(targets.size()), A = static_cast<int64_t>(priors.size() / 4);
  const auto dev = match_on_device<T, cpu>(targets, Tensor<float, cpu>::from_host(Shape{A, 4}, priors), o, true);
  REQUIRE(dev.loc.shape() == Shape{B, A, 4});
  REQUIRE(dev.landm.shape() == Shape{B, A, 10});
  REQUIRE(dev.conf.shape() == Shape{B, A});
  const std::vector<T> loc = dev.loc.to_vector(), landm = dev.landm.to_vector();
  const std::vector<int64_t> conf = dev.conf.to_vector(), best = dev.best_truth.to_vector();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<T> l(A * 4), lm(A * 10);
    std::vector<int64_t> c(A), bt(A);
    match_priors(targets[b].data(), static_cast<int64_t>(targets[b].size()) / kFaceFields, priors.data(), A, o,
                 l.data(), lm.data(), c.data(), bt.data());
    INFO("image " << b << " with " << targets[b].size() / kFaceFields << " faces, guarded " << o.guarded);
    REQUIRE(std::vector<int64_t>(conf.begin() + b * A, conf.begin() + (b + 1) * A) == c);
    REQUIRE(std::vector<int64_t>(best.begin() + b * A, best.begin() + (b + 1) * A) == bt);
    REQUIRE(same_bits(std::vector<T>(loc.begin() + b * A * 4, loc.begin() + (b + 1) * A * 4), l));
    REQUIRE(same_bits(std::vector<T>(landm.begin() + b * A * 10, landm.begin() + (b + 1) * A * 10), lm));
  }
}

// The first `images` images of WIDER val with faces, boxes normalised by 1024 (the width of
// every WIDER image; tall images give boxes below 1). Odd images' faces get landmarks.
std::vector<std::vector<float>> wider_faces(int64_t images) {
  const auto mat = io::read_mat(std::string(RFCF_SHARED_DIR) + "/widerface/ground_truth/wider_face_val.mat");
  std::istringstream in(data::wider_mat_to_label_text(mat));
  std::vector<std::vector<float>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      if (!out.empty() && out.back().empty()) out.pop_back();
      if (static_cast<int64_t>(out.size()) == images) break;
      out.emplace_back();
      continue;
    }
    std::istringstream l(line);
    float x, y, w, h;
    REQUIRE(static_cast<bool>(l >> x >> y >> w >> h));
    const float b[4] = {x / 1024, y / 1024, (x + w) / 1024, (y + h) / 1024};
    std::vector<float>& rows = out.back();
    rows.insert(rows.end(), b, b + 4);
    const bool landmarks = out.size() % 2 == 0;
    for (int k = 0; k < 5; ++k) {
      rows.push_back(landmarks ? b[0] + (b[2] - b[0]) * 0.2f * static_cast<float>(k + 0.5) : -1.0f);
      rows.push_back(landmarks ? (b[1] + b[3]) / 2 : -1.0f);
    }
    rows.push_back(landmarks ? 1.0f : -1.0f);
  }
  if (!out.empty() && out.back().empty()) out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("match_on_device<cpu> equals match_priors bit for bit on random batches", "[detection][matching]") {
  const std::vector<float> priors = test_priors();
  std::mt19937 g(11);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::vector<double>> batch;
    for (int64_t faces : {0, 1, 3, 12, 40, 0, 7}) batch.push_back(random_image<double>(faces + round, g));
    batch.push_back({});  // an image without faces last
    // Hand-made cases: two identical faces (later one takes the forced prior), a zero-area face
    // on the zero-size prior (NaN IoU), a face far outside the image (invalid: background).
    std::vector<double> special;
    add_face<double>(special, 0.2, 0.2, 0.5, 0.5, true, g);
    add_face<double>(special, 0.2, 0.2, 0.5, 0.5, false, g);
    add_face<double>(special, 0.5, 0.5, 0.5, 0.5, true, g);
    add_face<double>(special, 3.0, 3.0, 3.2, 3.3, true, g);
    batch.push_back(special);
    std::vector<double> outside;
    add_face<double>(outside, -2.0, -2.0, -1.5, -1.4, true, g);
    batch.push_back(outside);
    for (bool guarded : {false, true}) {
      MatchOptions o;
      o.guarded = guarded;
      require_match_equals_host<double>(batch, priors, o);
      require_match_equals_host<float>(batch, priors, o);
    }
  }
  SECTION("other thresholds and variances") {
    MatchOptions o;
    o.threshold = 0.5;
    o.valid_overlap = 0.05;
    o.variances = {0.2, 0.3};
    std::vector<std::vector<float>> batch;
    for (int64_t faces : {5, 30}) batch.push_back(random_image<float>(faces, g));
    require_match_equals_host<float>(batch, priors, o);
  }
}

TEST_CASE("match_on_device<cpu> equals match_priors on WIDER val faces at 640x640", "[detection][matching]") {
  const std::vector<std::vector<float>> faces = wider_faces(24);
  REQUIRE(faces.size() == 24);
  const std::vector<float> priors = make_priors(PriorBoxOptions::official(), 640, 640).to_vector();
  REQUIRE(priors.size() == 16800 * 4);
  for (bool guarded : {false, true}) {
    MatchOptions o;
    o.guarded = guarded;
    require_match_equals_host<float>(faces, priors, o);
  }
  // Some images must give positives, and WIDER's crowds some forced priors of tiny faces.
  const auto m = match_on_device<float, cpu>(faces, Tensor<float, cpu>::from_host(Shape{16800, 4}, priors));
  int64_t pos = 0;
  for (int64_t c : m.conf.to_vector()) pos += c != 0;
  CHECK(pos > 100);
}

TEST_CASE("ignore_mask_on_device<cpu> equals a naive loop", "[detection][matching]") {
  const std::vector<float> priors = test_priors();
  const int64_t A = static_cast<int64_t>(priors.size() / 4);
  const auto dev_priors = Tensor<float, cpu>::from_host(Shape{A, 4}, priors);
  std::mt19937 g(3);
  std::vector<std::vector<float>> targets, ignored;
  for (int64_t faces : {4, 0, 9, 2}) {
    targets.push_back(random_image<float>(faces, g));
    ignored.push_back(random_image<float>(faces + 3, g));
  }
  ignored[1].clear();  // an image without ignored faces
  const double threshold = 0.35;
  const auto m = match_on_device<float, cpu>(targets, dev_priors);
  const std::vector<char> got = ignore_mask_on_device<cpu>(ignored, dev_priors, m.conf, threshold).to_vector();
  const std::vector<int64_t> conf = m.conf.to_vector();
  int64_t marked = 0;
  for (size_t b = 0; b < ignored.size(); ++b)
    for (int64_t p = 0; p < A; ++p) {
      char want = 0;
      if (conf[b * A + p] == 0)
        for (size_t f = 0; f < ignored[b].size() / kFaceFields; ++f) {
          const float* r = ignored[b].data() + f * kFaceFields;
          const double box[4] = {r[0], r[1], r[2], r[3]};
          const float* q = priors.data() + p * 4;
          const double pf[4] = {q[0] - q[2] / 2.0, q[1] - q[3] / 2.0, q[0] + q[2] / 2.0, q[1] + q[3] / 2.0};
          if (match_iou(box, pf) >= threshold) want = 1;
        }
      INFO("image " << b << " prior " << p);
      REQUIRE(got[b * A + p] == want);
      marked += want;
    }
  CHECK(marked > 0);
}

TEST_CASE("match_on_device rejects bad input", "[detection][matching]") {
  const std::vector<float> priors = test_priors();
  const int64_t A = static_cast<int64_t>(priors.size() / 4);
  const auto dev_priors = Tensor<float, cpu>::from_host(Shape{A, 4}, priors);
  std::vector<std::vector<float>> targets(2);
  targets[1].resize(14);
  CHECK_THROWS_AS((match_on_device<float, cpu>(targets, dev_priors)), ShapeError);
  targets[1].assign(15, 0.5f);
  targets[1][3] = std::nanf("");
  CHECK_THROWS_AS((match_on_device<float, cpu>(targets, dev_priors)), NumericError);
  CHECK_THROWS_AS((match_on_device<float, cpu>(std::vector<std::vector<float>>(1), Tensor<float, cpu>(Shape{A, 3}))),
                  ShapeError);
  // No images at all: empty targets.
  const auto none = match_on_device<float, cpu>(std::vector<std::vector<float>>{}, dev_priors);
  CHECK(none.conf.shape() == Shape{0, A});
}
