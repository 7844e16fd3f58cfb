#pragma once
// User-facing errors. Checks that guard user input throw; they never vanish in release builds.
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace rfcf {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
// Tensor shapes that do not fit an op or a layer.
class ShapeError : public Error { public: using Error::Error; };
// Invalid options (negative stride, unknown backbone name, ...).
class ConfigError : public Error { public: using Error::Error; };
// Files that cannot be read or written, or whose content is malformed.
class IoError : public Error { public: using Error::Error; };
class FormatError : public IoError { public: using IoError::IoError; };
// Numerical failure that must stop training (NaN/Inf loss).
class NumericError : public Error { public: using Error::Error; };
// Device (CUDA, NCCL, MPI) failures.
class DeviceError : public Error { public: using Error::Error; };

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Throw E with the streamed message if cond is false.
template <class E = Error, class... Args>
inline void check(bool cond, Args&&... args) {
  if (!cond) throw E(detail::concat(std::forward<Args>(args)...));
}

template <class E = Error, class... Args>
[[noreturn]] inline void fail(Args&&... args) {
  throw E(detail::concat(std::forward<Args>(args)...));
}

}  // namespace rfcf
