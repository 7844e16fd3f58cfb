// libFuzzer target: zip central directory parsing and reading every member.
#include <cstdint>

#include "rfcf/io/zip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rfcf::io::ZipArchive zip(data, size, "fuzz");
    for (const auto& e : zip.entries()) {
      try {
        zip.read(e, true);
      } catch (const rfcf::FormatError&) {
      }
    }
  } catch (const rfcf::FormatError&) {
  }
  return 0;
}
