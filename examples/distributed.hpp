#pragma once
// The data-parallel option of the training programs (docs/distributed.md). Started by
// `mpirun -np N` (and built with MPI: rfcf::mpi), every rank trains on its shard of the data, the
// gradients are averaged over MPI, rank 0 writes checkpoints, logs and evaluations. Without
// mpirun the program is one process. torchrun-style RANK/WORLD_SIZE > 1 is refused on the CPU
// (the CPU collectives are MPI's).
#include <cstdio>
#include <exception>
#include <memory>

#include "rfcf/dist.hpp"
#if RFCF_HAVE_MPI
#include "rfcf/dist/mpi.hpp"
#endif

namespace rfcf::examples {

class Distributed {
 public:
  Distributed(int* argc, char*** argv) : info_(dist::detect_launch()) {
#if RFCF_HAVE_MPI
    if (info_.launcher == dist::Launcher::mpi) env_ = std::make_unique<dist::MpiEnvironment>(argc, argv);
    comm_ = dist::make_host_communicator(info_);
#else
    (void)argc, (void)argv;
    check<ConfigError>(info_.world == 1, "rank ", info_.rank, ": started by ", dist::name_of(info_.launcher),
                       " with ", info_.world, " ranks, but this program was built without MPI");
    comm_ = std::make_unique<dist::LocalCommunicator<cpu>>();
#endif
  }
  dist::Communicator& comm() { return *comm_; }
  int rank() const { return comm_->rank(); }
  int size() const { return comm_->size(); }
  bool main_process() const { return rank() == 0; }
  bool active() const { return size() > 1; }

  // Reports an error with the rank and, in a multi-rank job, ends every rank (so none hangs).
  int fail(const char* program, const std::exception& e, int code) {
    if (!active()) {
      std::fprintf(stderr, "%s: %s\n", program, e.what());
      return code;
    }
    std::fprintf(stderr, "%s (rank %d/%d): %s\n", program, rank(), size(), e.what());
    comm_->abort(code);
  }

 private:
  dist::LaunchInfo info_;
#if RFCF_HAVE_MPI
  std::unique_ptr<dist::MpiEnvironment> env_;  // declared before comm_: finalised after it
#endif
  std::unique_ptr<dist::Communicator> comm_;
};

}  // namespace rfcf::examples
