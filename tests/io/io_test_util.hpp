#pragma once
// Helpers for the io tests: a private temporary directory and byte-buffer builders.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace rfcf_test {

// A fresh directory under the system temp dir, removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "rfcf-io-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Names of the entries in the directory (to check that no temporary file is left behind).
  std::vector<std::string> entries() const {
    std::vector<std::string> v;
    for (auto& e : std::filesystem::directory_iterator(path_)) v.push_back(e.path().filename().string());
    return v;
  }

 private:
  std::filesystem::path path_;
};

inline std::string shared(const std::string& rel) { return std::string(RFCF_SHARED_DIR) + "/" + rel; }

inline void put_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace rfcf_test
