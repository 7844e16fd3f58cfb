// DetectionLoader: every image once per epoch, results independent of the worker count,
// per-epoch shuffles, variable face counts, worker errors with the image path, clean shutdown.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "rfcf/data/threaded_loader.hpp"

using namespace rfcf;
using namespace rfcf::data;

namespace {

std::vector<AnnotatedImage> synthetic_set(int n) {
  std::vector<AnnotatedImage> v;
  for (int i = 0; i < n; ++i) {
    AnnotatedImage im;
    im.path = "img_" + std::to_string(i);
    for (int k = 0; k <= i % 3; ++k) {  // 1, 2 or 3 faces
      FaceAnnotation f{};
      const float x = 10.f + 30.f * k, y = 10.f + 5.f * (i % 4);
      const float box[4] = {x, y, x + 20.f, y + 24.f};
      for (int j = 0; j < 4; ++j) f.values[j] = box[j];
      for (int j = 0; j < 5; ++j) f.values[4 + 2 * j] = x + 4.f * j, f.values[5 + 2 * j] = y + 10.f;
      f.values[14] = 1.f;
      im.faces.push_back(f);
    }
    v.push_back(im);
  }
  return v;
}

io::Image fake_decode(const std::string& path) {
  if (path == "img_bad") throw FormatError("corrupt JPEG");
  const int i = std::stoi(path.substr(4));
  io::Image img(120 + i, 90, 3, io::ColorOrder::BGR, static_cast<uint8_t>(20 + i));
  return img;
}

std::vector<DetectionBatch> run_epoch(DetectionLoader& l, int64_t epoch) {
  std::vector<DetectionBatch> out;
  l.start_epoch(epoch);
  while (auto b = l.next()) out.push_back(std::move(*b));
  return out;
}

}  // namespace

TEST_CASE("DetectionLoader delivers each image once, deterministically", "[data][loader]") {
  DetectionLoaderOptions o;
  o.batch_size = 4;
  o.augment.img_dim = 32;
  o.seed = 5;
  o.workers = 1;
  DetectionLoader one(synthetic_set(10), o, fake_decode);
  o.workers = 3;
  o.prefetch_batches = 2;
  DetectionLoader three(synthetic_set(10), o, fake_decode);
  REQUIRE(one.batches_per_epoch() == 3);

  const auto a = run_epoch(one, 0);
  const auto b = run_epoch(three, 0);
  const auto c = run_epoch(three, 1);
  REQUIRE(a.size() == 3);
  CHECK(a[2].images.dim(0) == 2);  // partial last batch
  std::multiset<std::string> seen;
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].paths == b[i].paths);
    CHECK(a[i].images.to_vector() == b[i].images.to_vector());
    CHECK(a[i].targets == b[i].targets);
    REQUIRE(a[i].targets.size() == static_cast<size_t>(a[i].images.dim(0)));
    for (const auto& p : a[i].paths) seen.insert(p);
  }
  CHECK(seen.size() == 10);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 10);
  CHECK(one.epoch_order(0) != one.epoch_order(1));
  CHECK(a[0].paths != c[0].paths);
  CHECK(three.images_per_second() > 0);
  // Face counts differ between images of a batch (targets are per image).
  std::set<size_t> counts;
  for (const auto& t : a[0].targets) counts.insert(t.size() / kFaceRow);
  for (const auto& t : a[1].targets) counts.insert(t.size() / kFaceRow);
  CHECK(counts.size() > 1);
}

TEST_CASE("DetectionLoader propagates worker errors with the path and shuts down cleanly", "[data][loader]") {
  auto set = synthetic_set(8);
  set[5].path = "img_bad";
  DetectionLoaderOptions o;
  o.batch_size = 2;
  o.augment.img_dim = 16;
  o.workers = 2;
  o.shuffle = false;
  DetectionLoader l(set, o, fake_decode);
  l.start_epoch(0);
  bool thrown = false;
  try {
    while (l.next()) {
    }
  } catch (const Error& e) {
    thrown = true;
    CHECK(std::string(e.what()).find("img_bad") != std::string::npos);
    CHECK(std::string(e.what()).find("corrupt JPEG") != std::string::npos);
  }
  CHECK(thrown);
  // Abandoning an epoch early is fine (destructor joins the workers).
  DetectionLoader early(synthetic_set(12), o, fake_decode);
  early.start_epoch(3);
  CHECK(early.next().has_value());
  DetectionLoader unstarted(synthetic_set(2), o, fake_decode);
  CHECK_THROWS_AS(unstarted.next(), Error);
  o.workers = 0;
  CHECK_THROWS_AS(DetectionLoader(synthetic_set(2), o, fake_decode), ConfigError);
}
