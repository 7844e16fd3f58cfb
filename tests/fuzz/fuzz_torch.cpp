// libFuzzer target: whole PyTorch files (legacy and zip) through load/parse_torch and
// find_state_dict. Only FormatError may escape.
#include <cstdint>

#include "rfcf/io/torch_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rfcf::io;
  try {
    PyPtr root = parse_torch(data, size, "fuzz");
    TensorMap sd = find_state_dict(*root);
    strip_prefix(sd);
  } catch (const rfcf::FormatError&) {
  }
  return 0;
}
