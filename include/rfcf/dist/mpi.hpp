#pragma once
// dist::MpiCommunicator: collectives on host memory over MPI (needs <mpi.h>: link rfcf::mpi).
// Not part of the umbrella rfcf/dist.hpp; include it where MPI is available (RFCF_HAVE_MPI).
//
// Every collective is started non-blocking (MPI_Iallreduce, ...) and polled against a deadline,
// so a rank that died or hangs makes the others throw CollectiveTimeout ("rank 0/4 (mpi): MPI
// all_reduce of 1024 f32 did not complete within 30 s ...") instead of waiting forever. After a
// timeout the communicator is broken (MPI cannot cancel a collective): report and call abort(),
// which is MPI_Abort and ends every rank of the job.
//
//   dist::MpiEnvironment mpi(&argc, &argv);          // MPI_Init_thread ... MPI_Finalize
//   dist::MpiCommunicator comm;                      // MPI_COMM_WORLD, timeout RFCF_DIST_TIMEOUT
#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/launch.hpp"
#include "rfcf/dist/local.hpp"

namespace rfcf::dist {

// Initialises MPI (thread level FUNNELED: OpenMP threads never call MPI) unless already done,
// and finalises it at scope exit if it initialised it.
class MpiEnvironment {
 public:
  MpiEnvironment(int* argc = nullptr, char*** argv = nullptr) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check<DeviceError>(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
                         "MPI_Init_thread failed");
      owns_ = true;
    }
  }
  ~MpiEnvironment() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_ && !finalised) MPI_Finalize();
  }
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

 private:
  bool owns_ = false;
};

struct MpiOptions {
  double timeout_s = timeout_from_env();  // per collective
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm base = MPI_COMM_WORLD, MpiOptions o = {}) : options_(o) {
    check<ConfigError>(o.timeout_s > 0, "MpiCommunicator: timeout must be positive, got ", o.timeout_s);
    check_call(MPI_Comm_dup(base, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!broken_ && !finalised) MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  const char* device() const override { return "cpu"; }
  double timeout() const { return options_.timeout_s; }
  void set_timeout(double seconds) {
    check<ConfigError>(seconds > 0, where(), ": timeout must be positive, got ", seconds);
    options_.timeout_s = seconds;
  }
  MPI_Comm native() const { return comm_; }

  void all_reduce(void* data, int64_t count, DataType type, ReduceOp op) override {
    all_reduce_async(data, count, type, op)->wait();
  }
  std::unique_ptr<Work> all_reduce_async(void* data, int64_t count, DataType type, ReduceOp op) override {
    MPI_Request r;
    start(MPI_Iallreduce(MPI_IN_PLACE, data, to_int(count, "all_reduce"), mpi_type(type), mpi_op(op), comm_, &r),
          "all_reduce");
    return std::make_unique<Request>(this, r, describe("all_reduce", count, type));
  }
  void all_gather(const void* in, void* out, int64_t count, DataType type) override {
    MPI_Request r;
    const int n = to_int(count, "all_gather");
    to_int(count * size_, "all_gather (total)");
    start(MPI_Iallgather(in, n, mpi_type(type), out, n, mpi_type(type), comm_, &r), "all_gather");
    Request(this, r, describe("all_gather", count, type)).wait();
  }
  void broadcast(void* data, int64_t count, DataType type, int root) override {
    check<ConfigError>(root >= 0 && root < size_, where(), ": broadcast root ", root, " outside the world");
    MPI_Request r;
    start(MPI_Ibcast(data, to_int(count, "broadcast"), mpi_type(type), root, comm_, &r), "broadcast");
    Request(this, r, describe("broadcast", count, type)).wait();
  }
  void reduce_scatter(const void* in, void* out, int64_t count, DataType type, ReduceOp op) override {
    MPI_Request r;
    to_int(count * size_, "reduce_scatter (total)");
    start(MPI_Ireduce_scatter_block(in, out, to_int(count, "reduce_scatter"), mpi_type(type), mpi_op(op), comm_, &r),
          "reduce_scatter");
    Request(this, r, describe("reduce_scatter", count, type)).wait();
  }
  void barrier() override {
    MPI_Request r;
    start(MPI_Ibarrier(comm_, &r), "barrier");
    Request(this, r, "barrier").wait();
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::_Exit(code);
  }

 private:
  class Request final : public Work {
   public:
    Request(MpiCommunicator* c, MPI_Request r, std::string what) : comm_(c), request_(r), what_(std::move(what)) {}
    ~Request() override {
      // A request abandoned by an exception elsewhere: nothing safe to do but leave it.
    }
    bool test() override {
      if (done_) return true;
      int flag = 0;
      comm_->check_call(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), what_.c_str());
      done_ = flag != 0;
      return done_;
    }
    void wait() override {
      using clock = std::chrono::steady_clock;
      const auto start = clock::now();
      const auto deadline = start + std::chrono::duration_cast<clock::duration>(
                                        std::chrono::duration<double>(comm_->options_.timeout_s));
      // Poll: spin briefly (latency), then yield and sleep so that oversubscribed ranks share cores.
      for (int64_t polls = 0; !test(); ++polls) {
        if (polls < 1000) continue;
        if (clock::now() > deadline) {
          comm_->broken_ = true;
          fail<CollectiveTimeout>(comm_->where(), ": MPI ", what_, " did not complete within ",
                                  comm_->options_.timeout_s,
                                  " s; another rank has died, hangs, or is in a different collective "
                                  "(set RFCF_DIST_TIMEOUT to change the limit). Aborting the job is the only way out.");
        }
        if (polls < 5000) std::this_thread::yield();
        else std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }

   private:
    MpiCommunicator* comm_;
    MPI_Request request_;
    std::string what_;
    bool done_ = false;
  };

  void check_call(int code, const char* what) const {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    fail<DeviceError>(where(), ": MPI ", what, " failed: ", std::string(text, static_cast<size_t>(len)));
  }
  void start(int code, const char* what) {
    check<DeviceError>(!broken_, where(), ": MPI ", what, " called after an earlier collective timed out");
    check_call(code, what);
  }
  int to_int(int64_t count, const char* what) const {
    check<ConfigError>(count >= 0 && count <= INT_MAX, where(), ": MPI ", what, " of ", count,
                       " elements exceeds MPI's int count");
    return static_cast<int>(count);
  }
  static std::string describe(const char* op, int64_t count, DataType type) {
    static const char* names[] = {"u8", "i32", "i64", "f32", "f64"};
    return std::string(op) + " of " + std::to_string(count) + " " + names[static_cast<int>(type)];
  }
  static MPI_Datatype mpi_type(DataType t) {
    switch (t) {
      case DataType::u8: return MPI_UINT8_T;
      case DataType::i32: return MPI_INT32_T;
      case DataType::i64: return MPI_INT64_T;
      case DataType::f32: return MPI_FLOAT;
      case DataType::f64: return MPI_DOUBLE;
    }
    return MPI_BYTE;
  }
  static MPI_Op mpi_op(ReduceOp op) {
    switch (op) {
      case ReduceOp::sum: return MPI_SUM;
      case ReduceOp::max: return MPI_MAX;
      case ReduceOp::min: return MPI_MIN;
    }
    return MPI_SUM;
  }

  MpiOptions options_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool broken_ = false;
};

// The host communicator for a process started by `info.launcher` (after MpiEnvironment under mpi).
inline std::unique_ptr<Communicator> make_host_communicator(const LaunchInfo& info, MpiOptions o = {}) {
  switch (info.launcher) {
    case Launcher::mpi: return std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, o);
    case Launcher::single: return std::make_unique<LocalCommunicator<cpu>>();
    case Launcher::env:
      check<ConfigError>(info.world == 1, "rank ", info.rank, "/", info.world,
                         ": CPU training started with RANK/WORLD_SIZE: the CPU collectives run over MPI, so start "
                         "it with `mpirun -np ", info.world,
                         " ...` instead (RANK/WORLD_SIZE/MASTER_ADDR bootstrap the NCCL back end only; "
                         "see docs/distributed.md)");
      return std::make_unique<LocalCommunicator<cpu>>();
  }
  fail<ConfigError>("unknown launcher");
}

}  // namespace rfcf::dist
