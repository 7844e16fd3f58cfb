// A program outside the rfcf tree on the installed rfcf::mpi: every rank contributes rank + 1;
// the all-reduced sum must be W (W + 1) / 2 on every rank.
#include <cstdio>
#include <vector>

#include <rfcf/cpu.hpp>
#include <rfcf/dist/mpi.hpp>

int main(int argc, char** argv) {
  using namespace rfcf;
  static_assert(RFCF_HAVE_MPI, "rfcf::mpi defines RFCF_HAVE_MPI");
  dist::MpiEnvironment env(&argc, &argv);
  dist::MpiCommunicator comm;
  std::vector<double> v{static_cast<double>(comm.rank() + 1)};
  dist::all_reduce_values<cpu>(comm, v, dist::ReduceOp::sum);
  const int W = comm.size();
  const bool ok = v[0] == W * (W + 1) / 2.0;
  std::printf("consumer_mpi rank %d/%d: sum %g %s\n", comm.rank(), W, v[0], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
