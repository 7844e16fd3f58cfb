// RetinaFace augmentation pieces: OpenCV HSV conversions (cv2 fixture), crop keep rules and
// coordinates that move with the pixels, flip with landmark swap, padding, determinism.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "rfcf/data/detection_augment.hpp"

using namespace rfcf;
using namespace rfcf::data;

namespace {

// Face with landmarks at fixed fractions of the box.
std::vector<float> face(float x1, float y1, float x2, float y2, float label = 1) {
  const float w = x2 - x1, h = y2 - y1;
  const float fx[5] = {0.3f, 0.7f, 0.5f, 0.35f, 0.65f}, fy[5] = {0.35f, 0.35f, 0.55f, 0.75f, 0.75f};
  std::vector<float> r = {x1, y1, x2, y2};
  for (int k = 0; k < 5; ++k) r.push_back(x1 + fx[k] * w), r.push_back(y1 + fy[k] * h);
  r.push_back(label);
  return r;
}

// Black BGR image; every box filled with red 200 in channel 2; landmark k of every face marks its
// pixel (floor of the coordinate) with green = 50 + 40 k.
io::Image paint(int W, int H, const FaceRows& faces) {
  io::Image img(W, H, 3, io::ColorOrder::BGR, 0);
  for (size_t i = 0; i < faces.size(); i += kFaceRow) {
    const float* f = faces.data() + i;
    for (int y = static_cast<int>(f[1]); y < static_cast<int>(f[3]); ++y)
      for (int x = static_cast<int>(f[0]); x < static_cast<int>(f[2]); ++x) img.at(x, y)[2] = 200;
    for (int k = 0; k < 5; ++k)
      img.at(static_cast<int>(f[4 + 2 * k]), static_cast<int>(f[5 + 2 * k]))[1] = static_cast<uint8_t>(50 + 40 * k);
  }
  return img;
}

// Landmarks and box interiors must land on the painted pixels.
void check_targets_follow_pixels(const io::Image& img, const FaceRows& faces, bool flipped) {
  for (size_t i = 0; i < faces.size(); i += kFaceRow) {
    const float* f = faces.data() + i;
    const int cx = static_cast<int>((f[0] + f[2]) / 2), cy = static_cast<int>((f[1] + f[3]) / 2);
    CHECK(img.at(cx, cy)[2] == 200);
    for (int k = 0; k < 5; ++k) {
      const float x = f[4 + 2 * k], y = f[5 + 2 * k];
      if (x <= 0 || y <= 0 || x >= img.width || y >= img.height) continue;  // clamped to the border
      // After a flip the point that sits at landmark slot k was painted as its mirror partner.
      const int painted = !flipped ? k : (k == 0 ? 1 : k == 1 ? 0 : k == 3 ? 4 : k == 4 ? 3 : 2);
      const int px = flipped ? static_cast<int>(std::ceil(x)) - 1 : static_cast<int>(x);
      INFO("landmark " << k << " at " << x << ", " << y);
      CHECK(img.at(px, static_cast<int>(y))[1] == 50 + 40 * painted);
    }
  }
}

}  // namespace

TEST_CASE("8-bit HSV conversions match OpenCV", "[data][augment]") {
  std::ifstream in(std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/detection_augment/hsv_fixture.bin",
                   std::ios::binary);
  REQUIRE(in);
  const size_t n = 4096 * 3;
  std::vector<uint8_t> bgr(n), hsv_ref(n), hsv_in(n), bgr_ref(n);
  in.read(reinterpret_cast<char*>(bgr.data()), n);
  in.read(reinterpret_cast<char*>(hsv_ref.data()), n);
  in.read(reinterpret_cast<char*>(hsv_in.data()), n);
  in.read(reinterpret_cast<char*>(bgr_ref.data()), n);
  REQUIRE(in);
  hsv::bgr_to_hsv(bgr.data(), 4096);
  int bad = 0;
  for (size_t i = 0; i < n; ++i) bad += bgr[i] != hsv_ref[i];
  CHECK(bad == 0);
  hsv::hsv_to_bgr(hsv_in.data(), 4096);
  bad = 0;
  for (size_t i = 0; i < n; ++i) {
    bad += hsv_in[i] != bgr_ref[i];
    CHECK(std::abs(int(hsv_in[i]) - int(bgr_ref[i])) <= 1);
  }
  CHECK(bad <= 4);  // 2 of 12288 differ by 1 from cv2 4.6 (see hsv.hpp)
}

TEST_CASE("random square crop: keep rules and coordinates follow the pixels", "[data][augment]") {
  FaceRows faces = face(40, 30, 80, 80);
  const FaceRows second = face(150, 20, 190, 60);
  faces.insert(faces.end(), second.begin(), second.end());
  const io::Image img = paint(240, 160, faces);
  DetectionAugmentOptions o;
  o.img_dim = 64;
  int accepted = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Generator g(seed);
    const CropResult c = random_square_crop(img, faces, g, o);
    if (c.pad) continue;
    ++accepted;
    REQUIRE(c.image.width == c.image.height);
    REQUIRE(!c.faces.empty());
    for (size_t i = 0; i < c.faces.size(); i += kFaceRow) {
      const float* f = c.faces.data() + i;
      CHECK(f[0] >= 0);
      CHECK(f[2] <= c.image.width);
      for (int k = 4; k < 14; ++k) CHECK((f[k] >= 0 && f[k] <= c.image.width));
    }
    check_targets_follow_pixels(c.image, c.faces, false);
  }
  CHECK(accepted > 20);

  SECTION("no crop can hold the face: original image and targets with the pad flag") {
    const FaceRows big = face(5, 5, 235, 155);
    Generator g(1);
    const CropResult c = random_square_crop(img, big, g, o);
    CHECK(c.pad);
    CHECK(c.faces == big);
    CHECK(c.image.width == 240);
  }
  SECTION("a face with its centre outside the crop is dropped, landmarks clamp to [0, side]") {
    // Full-height crop of a 100x100 image at scale 1 keeps everything; at other scales the
    // half-outside face is dropped or kept only with its centre inside.
    FaceRows f2 = face(10, 10, 40, 40);
    const FaceRows edge = face(85, 10, 100, 30, -1);
    FaceRows with_missing = edge;
    for (int k = 4; k < 14; ++k) with_missing[k] = -1;
    f2.insert(f2.end(), with_missing.begin(), with_missing.end());
    const io::Image small = paint(100, 100, FaceRows(f2.begin(), f2.begin() + kFaceRow));
    for (uint64_t seed = 0; seed < 30; ++seed) {
      Generator g(seed);
      const CropResult c = random_square_crop(small, f2, g, o);
      if (c.pad) continue;
      for (size_t i = 0; i < c.faces.size(); i += kFaceRow)
        if (c.faces[i + 14] < 0)
          for (int k = 4; k < 14; ++k) CHECK(c.faces[i + k] == 0.0f);  // -1 clamps to 0
    }
  }
}

TEST_CASE("horizontal flip mirrors pixels and swaps landmarks 0<->1, 3<->4", "[data][augment]") {
  FaceRows faces = face(20, 10, 60, 50);
  io::Image img = paint(100, 70, faces);
  const FaceRows before = faces;
  horizontal_flip(img, faces);
  CHECK(faces[0] == 100 - before[2]);
  CHECK(faces[2] == 100 - before[0]);
  CHECK(faces[4] == 100 - before[6]);  // new point 0 = mirrored old point 1
  CHECK(faces[5] == before[7]);
  CHECK(faces[8] == 100 - before[8]);  // nose stays
  CHECK(faces[10] == 100 - before[12]);
  check_targets_follow_pixels(img, faces, true);
  // Flipping twice restores everything.
  horizontal_flip(img, faces);
  CHECK(faces == before);
  CHECK(img.pixels == paint(100, 70, before).pixels);
}

TEST_CASE("pad to square uses the mean colour; resize subtracts the mean", "[data][augment]") {
  io::Image img(4, 2, 3, io::ColorOrder::BGR, 7);
  const io::Image p = pad_to_square(img);
  REQUIRE(p.width == 4);
  REQUIRE(p.height == 4);
  CHECK(p.at(3, 1)[0] == 7);
  CHECK(p.at(0, 3)[0] == 104);
  CHECK(p.at(0, 3)[1] == 117);
  CHECK(p.at(0, 3)[2] == 123);
  const Tensor<float, cpu> t = resize_subtract_mean(p, 4, io::Interpolation::Nearest);
  CHECK(t.data()[0] == 7 - 104.f);
  CHECK(t.data()[16 + 15] == 0.f);  // G plane, bottom-right pixel is the mean
}

TEST_CASE("augment_detection is deterministic per seed and normalises targets", "[data][augment]") {
  FaceRows faces = face(40, 30, 80, 80);
  const FaceRows other = face(150, 20, 190, 60, -1);
  faces.insert(faces.end(), other.begin(), other.end());
  const io::Image img = paint(240, 160, faces);
  DetectionAugmentOptions o;
  o.img_dim = 48;
  bool differs = false;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Generator a(seed), b(seed), c(seed + 100);
    const AugmentedSample sa = augment_detection(img, faces, a, o);
    const AugmentedSample sb = augment_detection(img, faces, b, o);
    const AugmentedSample sc = augment_detection(img, faces, c, o);
    REQUIRE(sa.image.shape() == Shape{3, 48, 48});
    CHECK(sa.image.to_vector() == sb.image.to_vector());
    CHECK(sa.faces == sb.faces);
    differs |= sa.image.to_vector() != sc.image.to_vector();
    for (size_t i = 0; i < sa.faces.size(); i += kFaceRow)
      for (int k = 0; k < 4; ++k) CHECK((sa.faces[i + k] >= 0.f && sa.faces[i + k] <= 1.f));
  }
  CHECK(differs);
  Generator g(0);
  CHECK_THROWS_AS(augment_detection(img, {}, g, o), ShapeError);
}
