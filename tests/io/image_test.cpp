// Decoding and encoding: exactness against cv2.imread, round trips, rejection of bad files.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "io/io_test_support.hpp"
#include "rfcf/io/image.hpp"

using namespace rfcf;
using namespace rfcf::io;
using rfcf_test::io_fixture;

static int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

TEST_CASE("PNG decodes losslessly in both channel orders", "[io][image]") {
  Image bgr = read_image(io_fixture("synthetic.png"), ColorOrder::BGR);
  REQUIRE(bgr.width == 48);
  REQUIRE(bgr.height == 40);
  REQUIRE(bgr.channels == 3);
  REQUIRE(bgr.order == ColorOrder::BGR);
  // Generator: B = x*255/47, G = y*255/39, R = checker 230/20; row 5 is white.
  CHECK(int(bgr.at(47, 0)[0]) == 255);
  CHECK(int(bgr.at(0, 39)[1]) == 255);
  CHECK(int(bgr.at(0, 0)[2]) == 230);
  CHECK(int(bgr.at(6, 0)[2]) == 20);
  CHECK(int(bgr.at(3, 5)[0]) == 255);
  Image rgb = read_image(io_fixture("synthetic.png"), ColorOrder::RGB);
  CHECK(int(rgb.at(47, 0)[2]) == 255);
  CHECK(int(rgb.at(0, 0)[0]) == 230);
  Image grey = read_image(io_fixture("synthetic.png"), ColorOrder::RGB, {.channels = 1});
  CHECK(grey.channels == 1);
  CHECK(grey.pixels.size() == 48u * 40u);
}

TEST_CASE("PNG and JPEG writers round-trip", "[io][image]") {
  rfcf_test::TempDir tmp;
  Image img = read_image(io_fixture("synthetic.png"), ColorOrder::BGR);
  write_png(tmp.file("a.png"), img);
  Image back = read_image(tmp.file("a.png"), ColorOrder::BGR);
  CHECK(back.pixels == img.pixels);
  Image back_rgb = read_image(tmp.file("a.png"), ColorOrder::RGB);
  CHECK(int(back_rgb.at(0, 0)[0]) == int(img.at(0, 0)[2]));

  Image grey(5, 3, 1);
  for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = uint8_t(i * 17);
  write_png(tmp.file("g.png"), grey);
  CHECK(read_image(tmp.file("g.png"), ColorOrder::RGB, {.channels = 1}).pixels == grey.pixels);

  write_jpeg(tmp.file("a.jpg"), img, 100);
  Image j = read_image(tmp.file("a.jpg"), ColorOrder::BGR);
  REQUIRE(j.width == img.width);
  double mad = 0;
  for (size_t i = 0; i < j.pixels.size(); ++i) mad += std::abs(int(j.pixels[i]) - int(img.pixels[i]));
  CHECK(mad / double(j.pixels.size()) < 4.0);
  CHECK(tmp.count() == 3);  // no temporary files left behind
}

TEST_CASE("JPEG decoding matches cv2.imread", "[io][image]") {
  std::vector<uint8_t> expected = rfcf_test::slurp(io_fixture("synthetic_q90_cv2_bgr.bin"));
  Image stb = read_image(io_fixture("synthetic_q90.jpg"), ColorOrder::BGR, {.jpeg_decoder = JpegBackend::Stb});
  CHECK(max_abs_diff(stb.pixels, expected) <= 12);  // different IDCT and chroma upsampling
  if (have_libjpeg()) {
    Image lj = read_image(io_fixture("synthetic_q90.jpg"), ColorOrder::BGR);
    CHECK(max_abs_diff(lj.pixels, expected) == 0);
    Image rgb = read_image(io_fixture("synthetic_q90.jpg"), ColorOrder::RGB);
    CHECK(int(rgb.at(3, 4)[0]) == int(lj.at(3, 4)[2]));
  }
}

TEST_CASE("JPEG decoders agree on the shared photos", "[io][image]") {
  if (!have_libjpeg()) return;
  for (const char* name : {"images/kids.jpg"}) {
    std::string path = rfcf_test::shared_path(name);
    Image a = read_image(path, ColorOrder::BGR, {.jpeg_decoder = JpegBackend::Stb});
    Image b = read_image(path, ColorOrder::BGR, {.jpeg_decoder = JpegBackend::LibJpeg});
    REQUIRE(a.width == b.width);
    REQUIRE(a.height == b.height);
    double mad = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) mad += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    CHECK(mad / double(a.pixels.size()) < 1.5);
  }
}

TEST_CASE("Truncated and corrupt images are rejected with the file name", "[io][image]") {
  rfcf_test::TempDir tmp;
  for (const char* fixture : {"synthetic_q90.jpg", "synthetic.png"}) {
    std::vector<uint8_t> bytes = rfcf_test::slurp(io_fixture(fixture));
    for (double frac : {0.3, 0.6, 0.9, 0.99}) {
      std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(double(bytes.size()) * frac));
      std::string path = tmp.file("cut_" + std::to_string(int(frac * 100)) + "_" + fixture);
      rfcf_test::spit(path, cut);
      for (JpegBackend be : {JpegBackend::Stb, JpegBackend::Default}) {
        INFO(fixture << " cut at " << frac);
        CHECK_THROWS_WITH(read_image(path, ColorOrder::RGB, {.jpeg_decoder = be}), Catch::Contains(path));
        CHECK_THROWS_AS(read_image(path, ColorOrder::RGB, {.jpeg_decoder = be}), FormatError);
      }
    }
  }
  // A flipped bit in PNG data fails the CRC.
  std::vector<uint8_t> png = rfcf_test::slurp(io_fixture("synthetic.png"));
  png[png.size() / 2] ^= 0x10;
  CHECK_THROWS_AS(decode_image(png), FormatError);
  // Not an image at all; empty.
  std::vector<uint8_t> text{'h', 'e', 'l', 'l', 'o'};
  CHECK_THROWS_WITH(decode_image(text, ColorOrder::RGB, {}, "x.txt"), Catch::Contains("x.txt"));
  CHECK_THROWS_AS(decode_image(std::vector<uint8_t>{}), FormatError);
  CHECK_THROWS_AS(read_image(tmp.file("missing.jpg")), IoError);
}

TEST_CASE("Writers fail cleanly and leave no partial file", "[io][image]") {
  rfcf_test::TempDir tmp;
  CHECK_THROWS_AS(write_png(tmp.file("no_such_dir/a.png"), Image(2, 2, 3)), IoError);
  CHECK_THROWS_AS(write_png(tmp.file("empty.png"), Image()), ShapeError);
  CHECK_THROWS_AS(write_jpeg(tmp.file("q.jpg"), Image(2, 2, 3), 0), ConfigError);
  CHECK(tmp.count() == 0);
}

TEST_CASE("Fuzzer findings stay fixed", "[io][image]") {
  // Inputs that made stb_image 2.27 read out of bounds; they must be rejected up front.
  for (const char* name : {"image_stb_huffman_overflow.jpg", "image_stb_undefined_huffman.jpg"}) {
    std::string path = io_fixture(std::string("fuzz_regressions/") + name);
    INFO(path);
    CHECK_THROWS_AS(read_image(path, ColorOrder::RGB, {.jpeg_decoder = JpegBackend::Stb}), FormatError);
    try {
      (void)read_image(path);
    } catch (const rfcf::Error&) {
    }
  }
}
