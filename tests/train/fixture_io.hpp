#pragma once
// Reads the raw little-endian fixtures written by tests/fixtures/train/fixture_writer.py:
// <stem>.bin holds the arrays back to back, <stem>.json maps name -> dtype, shape, offset.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::testing {

class BinFixture {
 public:
  explicit BinFixture(const std::string& stem) : stem_(stem) {
    std::ifstream js(stem + ".json");
    check<IoError>(js.good(), "fixture index ", stem, ".json not found");
    index_ = nlohmann::json::parse(js);
    std::ifstream bin(stem + ".bin", std::ios::binary);
    check<IoError>(bin.good(), "fixture data ", stem, ".bin not found");
    bytes_.assign(std::istreambuf_iterator<char>(bin), std::istreambuf_iterator<char>());
  }

  bool has(const std::string& name) const { return index_.contains(name); }

  Shape shape(const std::string& name) const {
    return Shape(entry(name).at("shape").get<std::vector<int64_t>>());
  }

  // Values converted to T (fixtures are f64, f32 or i64; little-endian hosts only).
  template <class T>
  std::vector<T> values(const std::string& name) const {
    const auto& e = entry(name);
    const std::string dtype = e.at("dtype");
    const size_t n = static_cast<size_t>(shape(name).numel());
    const size_t offset = e.at("offset");
    std::vector<T> out(n);
    auto read = [&](auto tag) {
      using S = decltype(tag);
      check<FormatError>(offset + n * sizeof(S) <= bytes_.size(), "fixture ", stem_, ": ", name, " out of range");
      for (size_t i = 0; i < n; ++i) {
        S v;
        std::memcpy(&v, bytes_.data() + offset + i * sizeof(S), sizeof(S));
        out[i] = static_cast<T>(v);
      }
    };
    if (dtype == "f64") read(double{});
    else if (dtype == "f32") read(float{});
    else if (dtype == "i64") read(int64_t{});
    else fail<FormatError>("fixture ", stem_, ": ", name, " has unknown dtype ", dtype);
    return out;
  }

  template <class T>
  Tensor<T, cpu> tensor(const std::string& name) const {
    return Tensor<T, cpu>::from_host(shape(name), values<T>(name));
  }

 private:
  const nlohmann::json& entry(const std::string& name) const {
    check<FormatError>(index_.contains(name), "fixture ", stem_, " has no array '", name, "'");
    return index_.at(name);
  }
  std::string stem_;
  nlohmann::json index_;
  std::vector<char> bytes_;
};

inline std::string train_fixture(const std::string& stem) {
  return std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/train/" + stem;
}

}  // namespace rfcf::testing
