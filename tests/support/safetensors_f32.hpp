#pragma once
// Minimal float32 safetensors reader for tests (header length, JSON header, raw data), used until
// the library reader of branch io-ckpt (rfcf/io/safetensors.hpp) is merged.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rfcf/core/error.hpp"

namespace rfcf::test {

struct F32Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

inline std::map<std::string, F32Tensor> read_safetensors_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check<IoError>(static_cast<bool>(in), "cannot open ", path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check<FormatError>(bytes.size() >= 8, path, ": too short");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  check<FormatError>(n <= bytes.size() - 8, path, ": bad header length");
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(n));
  const size_t base = 8 + n;
  std::map<std::string, F32Tensor> out;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__" || info.at("dtype") != "F32") continue;
    F32Tensor t;
    t.shape = info.at("shape").get<std::vector<int64_t>>();
    const auto off = info.at("data_offsets").get<std::vector<uint64_t>>();
    check<FormatError>(off.size() == 2 && off[0] <= off[1] && base + off[1] <= bytes.size() && (off[1] - off[0]) % 4 == 0,
                       path, ": bad offsets for ", name);
    t.values.resize((off[1] - off[0]) / 4);
    std::memcpy(t.values.data(), bytes.data() + base + off[0], off[1] - off[0]);
    out.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace rfcf::test
