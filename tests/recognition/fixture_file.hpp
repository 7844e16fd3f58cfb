#pragma once
// Reads the raw little-endian fixture files of tests/fixtures/recognition (a .bin blob plus a
// JSON index {"tensors": {name: {dtype, shape, offset}}, "scalars": {...}}).
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rfcf/core/tensor.hpp"

namespace rfcf::testing {

class FixtureFile {
 public:
  explicit FixtureFile(const std::string& stem) {
    std::ifstream js(stem + ".json");
    check<IoError>(js.good(), "cannot open ", stem, ".json");
    index_ = nlohmann::json::parse(js);
    std::ifstream bin(stem + ".bin", std::ios::binary);
    check<IoError>(bin.good(), "cannot open ", stem, ".bin");
    blob_.assign(std::istreambuf_iterator<char>(bin), std::istreambuf_iterator<char>());
  }

  template <class T>
  Tensor<T, cpu> tensor(const std::string& name) const {
    const auto& tensors = index_.at("tensors");
    check<FormatError>(tensors.contains(name), "fixture tensor ", name, " not found");
    const auto& e = tensors.at(name);
    const std::string dtype = e.at("dtype");
    std::vector<int64_t> dims = e.at("shape").get<std::vector<int64_t>>();
    const Shape shape(dims);
    const size_t offset = e.at("offset").get<size_t>();
    Tensor<T, cpu> out(shape);
    for (int64_t i = 0; i < shape.numel(); ++i) {
      if (dtype == "f64") out.data()[i] = static_cast<T>(read<double>(offset, i));
      else if (dtype == "f32") out.data()[i] = static_cast<T>(read<float>(offset, i));
      else if (dtype == "i64") out.data()[i] = static_cast<T>(read<int64_t>(offset, i));
      else fail<FormatError>("fixture tensor ", name, ": unknown dtype ", dtype);
    }
    return out;
  }
  std::vector<int64_t> labels(const std::string& name) const { return tensor<int64_t>(name).to_vector(); }
  double scalar(const std::string& name) const {
    check<FormatError>(index_.at("scalars").contains(name), "fixture scalar ", name, " not found");
    return index_.at("scalars").at(name).get<double>();
  }

 private:
  template <class S>
  S read(size_t offset, int64_t i) const {
    const size_t at = offset + static_cast<size_t>(i) * sizeof(S);
    check<FormatError>(at + sizeof(S) <= blob_.size(), "fixture blob too short");
    S v;
    std::memcpy(&v, blob_.data() + at, sizeof(S));
    return v;
  }
  nlohmann::json index_;
  std::vector<char> blob_;
};

inline const FixtureFile& margin_fixtures() {
  static const FixtureFile f(std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/recognition/margin_fixtures");
  return f;
}

}  // namespace rfcf::testing
