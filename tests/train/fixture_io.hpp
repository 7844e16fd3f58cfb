#pragma once
// Reads the PyTorch reference fixtures of tests/fixtures/train/ (safetensors files written by
// fixture_writer.py) through rfcf's own safetensors reader.
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/safetensors.hpp"

namespace rfcf::testing {

class Fixture {
 public:
  explicit Fixture(const std::string& path) : path_(path), map_(io::read_safetensors(path)) {}

  bool has(const std::string& name) const { return map_.contains(name); }
  Shape shape(const std::string& name) const { return Shape(entry(name).shape); }
  // Values converted to T.
  template <class T>
  std::vector<T> values(const std::string& name) const { return entry(name).as<T>(); }
  template <class T>
  Tensor<T, cpu> tensor(const std::string& name) const { return Tensor<T, cpu>::from_host(shape(name), values<T>(name)); }

 private:
  const io::HostTensor& entry(const std::string& name) const {
    const io::HostTensor* t = map_.find(name);
    check<FormatError>(t != nullptr, "fixture ", path_, " has no array '", name, "'");
    return *t;
  }
  std::string path_;
  io::TensorMap map_;
};

inline std::string train_fixture(const std::string& stem) {
  return std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/train/" + stem + ".safetensors";
}

}  // namespace rfcf::testing
