// libFuzzer target: the pickle interpreter with torch persistent ids, then tensor
// materialisation against zero-filled storages. Only FormatError may escape the reader.
#include <cstdint>

#include "rfcf/io/torch_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rfcf::io;
  try {
    detail::StorageTable table((size & 1) ? 5 : 6);
    PickleLimits limits;
    limits.max_stack = 1 << 14;
    limits.max_memo = 1 << 14;
    UnpickleResult r = unpickle(data, size, "fuzz", 0, limits, [&](const PyValue& pid) { return table.load(pid); });
    for (auto& [key, s] : table.storages()) {
      if (s->numel > (1 << 20)) return 0;  // do not allocate what the pickle claims
      s->bytes.assign(static_cast<size_t>(s->numel) * element_size(s->dtype), 0);
      s->loaded = true;
    }
    detail::materialise_all(r.tensors, "fuzz", size, TorchLoadOptions{});
  } catch (const rfcf::FormatError&) {
  }
  return 0;
}
