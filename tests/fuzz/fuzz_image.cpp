// Fuzzes JPEG/PNG decoding with both JPEG backends. Any input must either decode or throw
// an rfcf::Error; crashes, sanitizer reports and leaks are findings.
#include <cstddef>
#include <cstdint>
#include <span>

#include "rfcf/io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rfcf::io;
  std::span<const uint8_t> bytes(data, size);
  for (JpegBackend be : {JpegBackend::Stb, JpegBackend::Default}) {
    for (int channels : {3, 1}) {
      try {
        Image img = decode_image(bytes, ColorOrder::BGR, {.channels = channels, .jpeg_decoder = be, .max_pixels = 1 << 20});
        if (img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(channels)) __builtin_trap();
        if (img.width * img.height <= 64 * 64) (void)encode_png(img);
      } catch (const rfcf::Error&) {
      }
    }
  }
  return 0;
}
