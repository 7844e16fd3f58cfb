#pragma once
// Text forms of floats exactly as Python/numpy print them, so result files written by rfcf are
// byte-identical to the reference scripts' files.
//  - numpy_float32_str(x): str() of a numpy.float32 scalar (what the WIDER test script writes:
//    its score is an element of a float32 array): shortest digits that round-trip in float32,
//    positional when 1e-4 <= |x| < 1e16 (or x == 0), else scientific with >= 2 exponent digits.
//  - python_float_repr(x): repr()/str() of a Python float (double): shortest double digits,
//    positional when the decimal exponent is in [-4, 16).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

namespace rfcf::detection {

namespace detail {

// Shortest round-trip digits of x (> 0, finite) and decimal exponent e: x ~ 0.d1d2... * 10^(e+1),
// i.e. d1.d2d3... * 10^e.
template <class F>
inline void shortest_digits(F x, std::string& digits, int& exp10) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  size_t epos = s.find('e');
  std::string mant = s.substr(0, epos);
  exp10 = std::atoi(s.c_str() + epos + 1);
  digits.clear();
  for (char c : mant)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
}

inline std::string positional(const std::string& digits, int e) {
  std::string out;
  const int n = static_cast<int>(digits.size());
  if (e < 0) {
    out = "0." + std::string(static_cast<size_t>(-e - 1), '0') + digits;
  } else if (e + 1 >= n) {
    out = digits + std::string(static_cast<size_t>(e + 1 - n), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<size_t>(e + 1)) + "." + digits.substr(static_cast<size_t>(e + 1));
  }
  return out;
}

inline std::string scientific(const std::string& digits, int e) {
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  out += e < 0 ? "e-" : "e+";
  int a = std::abs(e);
  if (a < 10) out += '0';
  out += std::to_string(a);
  return out;
}

inline bool special(double x, std::string& out) {
  if (std::isnan(x)) { out = "nan"; return true; }
  if (std::isinf(x)) { out = x < 0 ? "-inf" : "inf"; return true; }
  if (x == 0) { out = std::signbit(x) ? "-0.0" : "0.0"; return true; }
  return false;
}

}  // namespace detail

inline std::string numpy_float32_str(float x) {
  std::string out;
  if (detail::special(x, out)) return out;
  std::string digits;
  int e = 0;
  detail::shortest_digits(std::fabs(x), digits, e);
  const double a = std::fabs(static_cast<double>(x));
  out = (a >= 1e-4 && a < 1e16) ? detail::positional(digits, e) : detail::scientific(digits, e);
  return x < 0 ? "-" + out : out;
}

inline std::string python_float_repr(double x) {
  std::string out;
  if (detail::special(x, out)) return out;
  std::string digits;
  int e = 0;
  detail::shortest_digits(std::fabs(x), digits, e);
  out = (e >= -4 && e < 16) ? detail::positional(digits, e) : detail::scientific(digits, e);
  return x < 0 ? "-" + out : out;
}

}  // namespace rfcf::detection
