#pragma once
// dist::LocalCommunicator: the world of one process. Every collective is the identity (or a
// copy), so code written against dist::Communicator runs unchanged without MPI or NCCL.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "rfcf/core/device.hpp"
#include "rfcf/dist/communicator.hpp"

namespace rfcf::dist {

template <class D = cpu>
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "local"; }
  const char* device() const override { return D::name; }

  void all_reduce(void*, int64_t, DataType, ReduceOp) override {}
  std::unique_ptr<Work> all_reduce_async(void*, int64_t, DataType, ReduceOp) override {
    return std::make_unique<Done>();
  }
  void all_gather(const void* in, void* out, int64_t count, DataType type) override { copy(out, in, count, type); }
  void broadcast(void*, int64_t, DataType, int root) override { check_root(root); }
  void reduce_scatter(const void* in, void* out, int64_t count, DataType type, ReduceOp) override {
    copy(out, in, count, type);
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }

 private:
  struct Done final : Work {
    void wait() override {}
    bool test() override { return true; }
  };
  static void copy(void* out, const void* in, int64_t count, DataType type) {
    if (out != in && count > 0) DeviceCopy<D, D>::copy(out, in, static_cast<size_t>(count) * size_of(type));
  }
  void check_root(int root) const {
    check<ConfigError>(root == 0, where(), ": broadcast root ", root, " outside a world of 1");
  }
};

}  // namespace rfcf::dist
