#pragma once
// dist::NcclCommunicator: collectives on CUDA memory over NCCL (nvcc only; link rfcf::nccl).
// Not part of rfcf/dist.hpp; include it after <rfcf/cuda.cuh> in .cu files.
//
// Collectives are enqueued on the calling thread's rfcf stream (cuda_rt::current_stream()), so
// they are ordered with rfcf's kernels and copies. Blocking calls then poll that stream and
// ncclCommGetAsyncError against the timeout; on expiry (or an asynchronous NCCL error) the
// communicator is aborted (ncclCommAbort) and CollectiveTimeout / DeviceError names the rank and
// the call. The communicator is created non-blocking, so a missing rank during initialisation
// times out the same way.
//
// The 128-byte NCCL unique id of rank 0 must reach every rank first:
//   under mpirun:  nccl_unique_id(mpi_comm)          (broadcast over any host Communicator)
//   torchrun-style: nccl_unique_id(launch_info)      (TCP rendezvous on MASTER_ADDR:MASTER_PORT)
//   auto comm = dist::NcclCommunicator(id, rank, world);   // after cudaSetDevice(local_rank)
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/launch.hpp"
#include "rfcf/dist/rendezvous.hpp"

namespace rfcf::dist {

struct NcclOptions {
  double timeout_s = timeout_from_env();
};

using NcclUniqueId = std::vector<uint8_t>;  // NCCL_UNIQUE_ID_BYTES bytes

// Rank 0 creates the id; every rank receives it over a host communicator (MPI).
inline NcclUniqueId nccl_unique_id(Communicator& host) {
  check<ConfigError>(std::string(host.device()) == "cpu", host.where(),
                     ": the NCCL unique id is handed out over a host communicator");
  NcclUniqueId id(NCCL_UNIQUE_ID_BYTES, 0);
  if (host.rank() == 0) {
    ncclUniqueId raw;
    check<DeviceError>(ncclGetUniqueId(&raw) == ncclSuccess, host.where(), ": ncclGetUniqueId failed");
    std::memcpy(id.data(), &raw, sizeof raw);
  }
  host.broadcast(id.data(), static_cast<int64_t>(id.size()), DataType::u8, 0);
  return id;
}

// Rank 0 creates the id; the TCP rendezvous of a torchrun-style launch hands it out.
inline NcclUniqueId nccl_unique_id(const LaunchInfo& info, double timeout_s = timeout_from_env()) {
  NcclUniqueId id;
  if (info.rank == 0) {
    ncclUniqueId raw;
    check<DeviceError>(ncclGetUniqueId(&raw) == ncclSuccess, "rank 0: ncclGetUniqueId failed");
    id.assign(reinterpret_cast<const uint8_t*>(&raw), reinterpret_cast<const uint8_t*>(&raw) + sizeof raw);
  }
  RendezvousOptions o;
  o.master_addr = info.master_addr.empty() ? "127.0.0.1" : info.master_addr;
  o.master_port = info.master_port > 0 ? info.master_port : 29500;
  o.timeout_s = timeout_s;
  id = tcp_rendezvous(info.rank, info.world, id, o);
  check<DeviceError>(id.size() == NCCL_UNIQUE_ID_BYTES, "rank ", info.rank, ": received an NCCL id of ", id.size(),
                     " bytes");
  return id;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const NcclUniqueId& id, int rank, int world, NcclOptions o = {})
      : options_(o), rank_(rank), size_(world) {
    check<ConfigError>(id.size() == NCCL_UNIQUE_ID_BYTES, where(), ": NCCL unique id of ", id.size(), " bytes");
    check<ConfigError>(o.timeout_s > 0, where(), ": timeout must be positive");
    ncclUniqueId raw;
    std::memcpy(&raw, id.data(), sizeof raw);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // initialisation and calls return at once; we poll with a deadline
    const ncclResult_t r = ncclCommInitRankConfig(&comm_, world, raw, rank, &config);
    check<DeviceError>(r == ncclSuccess || r == ncclInProgress, where(), ": ncclCommInitRankConfig failed: ",
                       ncclGetErrorString(r));
    settle("initialisation (are all ranks started, with the same id?)");
  }
  ~NcclCommunicator() override {
    if (barrier_buffer_) cudaFree(barrier_buffer_);
    if (comm_) {
      if (broken_) ncclCommAbort(comm_);
      else ncclCommDestroy(comm_);
    }
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }
  const char* device() const override { return "cuda"; }
  ncclComm_t native() const { return comm_; }

  void all_reduce(void* data, int64_t count, DataType type, ReduceOp op) override {
    all_reduce_async(data, count, type, op)->wait();
  }
  std::unique_ptr<Work> all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) override {
    enqueue(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(type), nccl_op(op), comm_, stream()),
            "all_reduce");
    return std::make_unique<Pending>(this, "all_reduce of " + std::to_string(count));
  }
  void all_gather(const void* in, void* out, int64_t count, DataType type) override {
    enqueue(ncclAllGather(in, out, static_cast<size_t>(count), nccl_type(type), comm_, stream()), "all_gather");
    Pending(this, "all_gather of " + std::to_string(count)).wait();
  }
  void broadcast(void* data, int64_t count, DataType type, int root) override {
    check<ConfigError>(root >= 0 && root < size_, where(), ": broadcast root ", root, " outside the world");
    enqueue(ncclBroadcast(data, data, static_cast<size_t>(count), nccl_type(type), root, comm_, stream()), "broadcast");
    Pending(this, "broadcast of " + std::to_string(count)).wait();
  }
  void reduce_scatter(const void* in, void* out, int64_t count, DataType type, ReduceOp op) override {
    enqueue(ncclReduceScatter(in, out, static_cast<size_t>(count), nccl_type(type), nccl_op(op), comm_, stream()),
            "reduce_scatter");
    Pending(this, "reduce_scatter of " + std::to_string(count)).wait();
  }
  // NCCL has no barrier: an all-reduce of one value is one.
  void barrier() override {
    if (!barrier_buffer_) RFCF_CUDA_CHECK(cudaMalloc(&barrier_buffer_, sizeof(float)));
    all_reduce(barrier_buffer_, 1, DataType::f32, ReduceOp::sum);
  }
  [[noreturn]] void abort(int code) override {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Completion of everything enqueued on the stream so far (an event recorded after the call).
  class Pending final : public Work {
   public:
    Pending(NcclCommunicator* c, std::string what) : comm_(c), what_(std::move(what)) {
      RFCF_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
      RFCF_CUDA_CHECK(cudaEventRecord(event_, c->stream()));
    }
    ~Pending() override { cudaEventDestroy(event_); }
    bool test() override {
      const cudaError_t e = cudaEventQuery(event_);
      if (e == cudaErrorNotReady) {
        (void)cudaGetLastError();
        comm_->check_async(what_.c_str());
        return false;
      }
      RFCF_CUDA_CHECK(e);
      return true;
    }
    void wait() override {
      const auto deadline = comm_->deadline();
      while (!test()) {
        if (Clock::now() > deadline) comm_->time_out(what_.c_str());
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }

   private:
    NcclCommunicator* comm_;
    std::string what_;
    cudaEvent_t event_ = nullptr;
  };

  cudaStream_t stream() const { return cuda_rt::current_stream(); }
  Clock::time_point deadline() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.timeout_s));
  }
  [[noreturn]] void time_out(const char* what) {
    broken_ = true;
    ncclCommAbort(comm_);
    comm_ = nullptr;
    fail<CollectiveTimeout>(where(), ": NCCL ", what, " did not complete within ", options_.timeout_s,
                            " s; another rank has died, hangs, or is in a different collective (set "
                            "RFCF_DIST_TIMEOUT to change the limit). The communicator was aborted.");
  }
  void check_async(const char* what) {
    ncclResult_t state = ncclSuccess;
    ncclCommGetAsyncError(comm_, &state);
    if (state != ncclSuccess && state != ncclInProgress) {
      broken_ = true;
      fail<DeviceError>(where(), ": NCCL ", what, " failed: ", ncclGetErrorString(state));
    }
  }
  // Non-blocking communicator: wait until the last call has been taken in.
  void settle(const char* what) {
    const auto end = deadline();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) {
        broken_ = true;
        fail<DeviceError>(where(), ": NCCL ", what, " failed: ", ncclGetErrorString(state));
      }
      if (Clock::now() > end) time_out(what);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  void enqueue(ncclResult_t r, const char* what) {
    check<DeviceError>(!broken_ && comm_, where(), ": NCCL ", what, " called after the communicator was aborted");
    check<DeviceError>(r == ncclSuccess || r == ncclInProgress, where(), ": NCCL ", what, " failed: ",
                       ncclGetErrorString(r));
    if (r == ncclInProgress) settle(what);
  }
  static ncclDataType_t nccl_type(DataType t) {
    switch (t) {
      case DataType::u8: return ncclUint8;
      case DataType::i32: return ncclInt32;
      case DataType::i64: return ncclInt64;
      case DataType::f32: return ncclFloat32;
      case DataType::f64: return ncclFloat64;
    }
    return ncclUint8;
  }
  static ncclRedOp_t nccl_op(ReduceOp op) {
    switch (op) {
      case ReduceOp::sum: return ncclSum;
      case ReduceOp::max: return ncclMax;
      case ReduceOp::min: return ncclMin;
    }
    return ncclSum;
  }

  NcclOptions options_;
  int rank_ = 0, size_ = 1;
  ncclComm_t comm_ = nullptr;
  bool broken_ = false;
  void* barrier_buffer_ = nullptr;
};

}  // namespace rfcf::dist
