// Detector::detect_stream (the pipelined batch API) on the cpu: sequential there, and equal to
// detect_batch over the same groups of images, for every batch size.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/io.hpp"

using namespace rfcf;
using namespace rfcf::detection;

namespace {
const std::string kShared = RFCF_SHARED_DIR;

void require_identical(const std::vector<Detection>& a, const std::vector<Detection>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].score == b[i].score);
    for (int k = 0; k < 4; ++k) REQUIRE(a[i].box[k] == b[i].box[k]);
    for (int k = 0; k < 10; ++k) REQUIRE(a[i].landmarks[k] == b[i].landmarks[k]);
  }
}
}  // namespace

TEST_CASE("detect_stream equals detect_batch per group on kids.jpg and wide.jpg", "[detection][stream]") {
  DetectorOptions o;
  o.long_side = 480;  // small inputs keep the test quick; padding still differs between the images
  Detector<> det(kShared + "/models/retinaface_mnet025.pth", o);
  const std::vector<io::Image> images{io::read_image(kShared + "/images/kids.jpg", io::ColorOrder::BGR),
                                      io::read_image(kShared + "/images/wide.jpg", io::ColorOrder::BGR),
                                      io::read_image(kShared + "/images/kids.jpg", io::ColorOrder::BGR)};
  const auto kids = det.detect_batch({images[0]});
  const auto wide = det.detect_batch({images[1]});
  REQUIRE(kids.size() == 1);
  REQUIRE(kids[0].size() >= 8);  // the reference finds 8 faces at score >= 0.5

  SECTION("batch size 1: each image alone") {
    const auto s = det.detect_stream(images, 1);
    REQUIRE(s.size() == 3);
    require_identical(s[0], kids[0]);
    require_identical(s[1], wide[0]);
    require_identical(s[2], kids[0]);
  }
  SECTION("batch size 2: two groups of different shapes") {
    const auto s = det.detect_stream(images, 2);
    const auto pair = det.detect_batch({images[0], images[1]});
    REQUIRE(s.size() == 3);
    require_identical(s[0], pair[0]);
    require_identical(s[1], pair[1]);
    require_identical(s[2], kids[0]);
  }
  SECTION("batch size beyond the number of images: all of detect_batch") {
    const auto s = det.detect_stream(images, 10);
    const auto all = det.detect_batch(images);
    REQUIRE(s.size() == 3);
    for (size_t i = 0; i < 3; ++i) require_identical(s[i], all[i]);
  }
  SECTION("bad arguments") {
    CHECK_THROWS_AS(det.detect_stream({}, 2), ConfigError);
    CHECK_THROWS_AS(det.detect_stream(images, 0), ConfigError);
    CHECK_THROWS_AS(det.detect_batch({}), ConfigError);
    CHECK(det.captured_shapes() == 0);  // no graphs on the cpu
  }
}
