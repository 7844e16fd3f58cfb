// libFuzzer target for the MAT v5 reader: any input must parse or throw rfcf::Error.
#include <cstddef>
#include <cstdint>

#include "rfcf/io/mat.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rfcf::io::MatLimits limits;
  limits.max_inflated_bytes = size_t(16) << 20;  // keep each run small
  limits.max_arrays = 100000;
  try {
    rfcf::io::MatFile f = rfcf::io::parse_mat(data, size, limits);
    size_t total = 0;
    for (const auto& v : f.variables) total += v.numeric.size() + v.cells.size() + v.text.size();
    (void)total;
  } catch (const rfcf::Error&) {
  }
  return 0;
}
