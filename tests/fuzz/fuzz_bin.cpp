// libFuzzer target: insightface verification .bin files.
#include <cstdint>

#include "rfcf/io/insightface_bin.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rfcf::io::parse_verification_bin(data, size, "fuzz");
  } catch (const rfcf::FormatError&) {
  }
  return 0;
}
