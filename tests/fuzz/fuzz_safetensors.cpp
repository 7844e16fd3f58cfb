// libFuzzer target: safetensors parsing; a file that parses must serialise and parse again
// to the same tensors.
#include <cstdint>
#include <cstdlib>

#include "rfcf/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rfcf::io;
  SafetensorsFile f;
  try {
    f = parse_safetensors(data, size, "fuzz");
  } catch (const rfcf::FormatError&) {
    return 0;
  }
  std::vector<uint8_t> again;
  try {
    again = serialize_safetensors(f.tensors, f.metadata);
  } catch (const rfcf::Error&) {
    return 0;  // e.g. a tensor named "__metadata__" cannot be written back
  }
  SafetensorsFile g = parse_safetensors(again.data(), again.size(), "fuzz round trip");
  if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) std::abort();
  for (const auto& [name, t] : f.tensors) {
    const HostTensor& u = g.tensors.at(name);
    if (u.dtype != t.dtype || u.shape != t.shape || u.bytes != t.bytes) std::abort();
  }
  return 0;
}
