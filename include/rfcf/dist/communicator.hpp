#pragma once
// dist::Communicator: the collectives data-parallel training and Partial FC need, over raw
// buffers of one device. Back ends: LocalCommunicator (one process, always available),
// MpiCommunicator (host memory; rfcf/dist/mpi.hpp, needs MPI) and NcclCommunicator (CUDA memory;
// rfcf/dist/nccl.cuh, nvcc only). The typed helpers at the end take Tensor<T, D> and check that
// the tensor lives where the back end can read it.
//
// Every rank must call the same collectives in the same order with the same sizes. A collective
// that does not complete within the back end's timeout throws dist::CollectiveTimeout naming the
// rank and the call; the communicator is unusable afterwards (call abort()).
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::dist {

enum class ReduceOp { sum, max, min };

enum class DataType { u8, i32, i64, f32, f64 };

template <class T>
constexpr DataType data_type_of() {
  if constexpr (std::is_same_v<T, float>) return DataType::f32;
  else if constexpr (std::is_same_v<T, double>) return DataType::f64;
  else if constexpr (std::is_same_v<T, int64_t>) return DataType::i64;
  else if constexpr (std::is_same_v<T, int32_t>) return DataType::i32;
  else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, char>) return DataType::u8;
  else static_assert(sizeof(T) == 0, "rfcf::dist: unsupported element type");
}

inline size_t size_of(DataType t) {
  switch (t) {
    case DataType::u8: return 1;
    case DataType::i32: return 4;
    case DataType::i64: return 8;
    case DataType::f32: return 4;
    case DataType::f64: return 8;
  }
  return 0;
}

inline const char* name_of(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::max: return "max";
    case ReduceOp::min: return "min";
  }
  return "?";
}

// A collective that did not finish in time (a rank died, hangs, or called another collective).
class CollectiveTimeout : public DeviceError {
 public:
  using DeviceError::DeviceError;
};

// A collective in flight (from the *_async calls). wait() blocks until it completes or the
// communicator's timeout expires (then it throws CollectiveTimeout).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // True once complete (never throws on a timeout; wait() does).
  virtual bool test() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;
  // Name of the device whose memory the buffers must live in ("cpu" or "cuda").
  virtual const char* device() const = 0;

  // In place: data[0, count) <- op over ranks.
  virtual void all_reduce(void* data, int64_t count, DataType type, ReduceOp op) = 0;
  virtual std::unique_ptr<Work> all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) = 0;
  // out[r * count, (r + 1) * count) <- in of rank r (out holds size() * count elements).
  virtual void all_gather(const void* in, void* out, int64_t count, DataType type) = 0;
  virtual void broadcast(void* data, int64_t count, DataType type, int root) = 0;
  // out[0, count) <- op over ranks of in[rank * count, (rank + 1) * count).
  virtual void reduce_scatter(const void* in, void* out, int64_t count, DataType type, ReduceOp op) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job (MPI_Abort / ncclCommAbort + exit); never returns.
  [[noreturn]] virtual void abort(int code) = 0;

  // "rank 1/4 (mpi)": prefix of error messages.
  std::string where() const {
    return "rank " + std::to_string(rank()) + "/" + std::to_string(size()) + " (" + backend() + ")";
  }
};

namespace detail {
template <class D>
void check_device(const Communicator& c, const char* call) {
  check<ConfigError>(std::string(D::name) == c.device(), c.where(), ": ", call, " got a ", D::name,
                     " tensor, but the ", c.backend(), " back end works on ", c.device(), " memory");
}
}  // namespace detail

// ---- Typed helpers over tensors.

template <class T, class D>
void all_reduce(Communicator& c, Tensor<T, D>& t, ReduceOp op = ReduceOp::sum) {
  detail::check_device<D>(c, "all_reduce");
  c.all_reduce(t.data(), t.numel(), data_type_of<T>(), op);
}

template <class T, class D>
std::unique_ptr<Work> all_reduce_async(Communicator& c, Tensor<T, D>& t, ReduceOp op = ReduceOp::sum) {
  detail::check_device<D>(c, "all_reduce_async");
  return c.all_reduce_async(t.data(), t.numel(), data_type_of<T>(), op);
}

// Concatenates the (equally shaped) tensors of all ranks along dimension 0, in rank order.
template <class T, class D>
Tensor<T, D> all_gather(Communicator& c, const Tensor<T, D>& t) {
  detail::check_device<D>(c, "all_gather");
  check<ShapeError>(t.rank() >= 1, c.where(), ": all_gather needs a tensor with a leading dimension, got ",
                    t.shape().str());
  Shape s = t.shape();
  s[0] *= c.size();
  Tensor<T, D> out(s);
  c.all_gather(t.data(), out.data(), t.numel(), data_type_of<T>());
  return out;
}

template <class T, class D>
void broadcast(Communicator& c, Tensor<T, D>& t, int root = 0) {
  detail::check_device<D>(c, "broadcast");
  c.broadcast(t.data(), t.numel(), data_type_of<T>(), root);
}

// Reduces t ([size() * n, ...]) over ranks and returns this rank's block [n, ...].
template <class T, class D>
Tensor<T, D> reduce_scatter(Communicator& c, const Tensor<T, D>& t, ReduceOp op = ReduceOp::sum) {
  detail::check_device<D>(c, "reduce_scatter");
  check<ShapeError>(t.rank() >= 1 && t.dim(0) % c.size() == 0, c.where(), ": reduce_scatter needs a leading "
                    "dimension divisible by the world size ", c.size(), ", got ", t.shape().str());
  Shape s = t.shape();
  s[0] /= c.size();
  Tensor<T, D> out(s);
  c.reduce_scatter(t.data(), out.data(), out.numel(), data_type_of<T>(), op);
  return out;
}

// Small host values (counters, sums, t): in place, staged through a Tensor<T, D> on the back
// end's device D (a copy to and from the GPU for NCCL; a plain copy on the host).
template <class D, class T>
void all_reduce_values(Communicator& c, std::vector<T>& v, ReduceOp op = ReduceOp::sum) {
  if (v.empty()) return;
  Tensor<T, D> t = Tensor<T, D>::from_host(Shape{static_cast<int64_t>(v.size())}, v);
  all_reduce(c, t, op);
  v = t.to_vector();
}

}  // namespace rfcf::dist
