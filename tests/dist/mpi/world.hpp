#pragma once
// The communicator of the MPI tests and small helpers shared by them.
#include <cmath>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/dist/mpi.hpp"

namespace rfcf::testing {

inline dist::MpiCommunicator& world() {
  static dist::MpiCommunicator c;
  return c;
}

// ||a - b|| / ||b||.
template <class T>
double rel_error(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

template <class T>
std::vector<T> minus(const std::vector<T>& a, const std::vector<T>& b) {
  std::vector<T> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

}  // namespace rfcf::testing
