// Fuzzes the RecordIO readers: the input is split into a .rec and an .idx file (first byte
// = length of the index text). Any input must either read or throw an rfcf::Error.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "rfcf/io/recordio.hpp"

static std::string scratch(const char* ext) {
  return "/tmp/rfcf_fuzz_recordio_" + std::to_string(::getpid()) + ext;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t idx_len = std::min<size_t>(data[0], size - 1);
  std::string rec = scratch(".rec"), idx = scratch(".idx");
  std::ofstream(idx, std::ios::binary).write(reinterpret_cast<const char*>(data + 1), std::streamsize(idx_len));
  std::ofstream(rec, std::ios::binary)
      .write(reinterpret_cast<const char*>(data + 1 + idx_len), std::streamsize(size - 1 - idx_len));
  rfcf::io::RecordReaderOptions opt;
  opt.max_record_bytes = 1 << 20;
  for (const std::string& index : {idx, std::string()}) {
    if (index.empty()) ::unlink(idx.c_str());  // second round: scan the .rec without index
    try {
      rfcf::io::ImageRecordFile f(rec, "", opt);
      for (int64_t k : f.image_keys()) (void)f.read(k);
      for (int64_t i = 0; i < std::min<int64_t>(f.num_identities(), 64); ++i) (void)f.identity(i);
    } catch (const rfcf::Error&) {
    }
  }
  ::unlink(rec.c_str());
  return 0;
}
