#pragma once
// Checkpoints in data-parallel runs: rank 0 writes (its state is every rank's state, except the
// per-rank BatchNorm statistics, of which rank 0's are kept, as with DDP), the others wait, and
// every rank learns whether the write succeeded. Loading needs nothing special: every rank loads
// the same file, whatever the number of ranks that wrote it (Partial FC: dist/partial_fc.hpp
// gather_weight / load_full_weight).
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/dist/communicator.hpp"

namespace rfcf::dist {

// Calls ckpt.save(path) on `root` only; collective. Throws on every rank if the save failed.
template <class D, class Checkpoint>
void save_on_root(Communicator& comm, const Checkpoint& ckpt, const std::string& path, int root = 0) {
  std::string error;
  if (comm.rank() == root) {
    try {
      ckpt.save(path);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  std::vector<int32_t> failed{error.empty() ? 0 : 1};
  all_reduce_values<D>(comm, failed, ReduceOp::max);
  check<IoError>(failed[0] == 0, comm.where(), ": rank ", root, " could not write the checkpoint ", path,
                 error.empty() ? std::string() : ": " + error);
}

}  // namespace rfcf::dist
