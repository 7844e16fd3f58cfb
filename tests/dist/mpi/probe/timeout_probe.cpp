// Fault probe for ctest: `timeout_probe hang|die SECONDS` under mpirun -np 2. Rank 1 hangs (sleeps
// for ten minutes) or dies (exits without MPI_Finalize) before an all-reduce; rank 0 must not wait
// forever: its all-reduce throws CollectiveTimeout after SECONDS, it prints the message and
// aborts the job (exit code 3).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "rfcf/cpu.hpp"
#include "rfcf/dist/mpi.hpp"

int main(int argc, char** argv) {
  using namespace rfcf;
  dist::MpiEnvironment env(&argc, &argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s hang|die SECONDS\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  dist::MpiOptions o;
  o.timeout_s = std::atof(argv[2]);
  dist::MpiCommunicator comm(MPI_COMM_WORLD, o);
  try {
    Tensor<float, cpu> t = zeros<float, cpu>(Shape{4});
    dist::all_reduce(comm, t);  // everyone is alive here
    if (comm.rank() == 1) {
      if (mode == "die") std::_Exit(7);
      std::this_thread::sleep_for(std::chrono::minutes(10));
    }
    dist::all_reduce(comm, t);
    std::printf("rank %d: all-reduce completed (unexpected)\n", comm.rank());
    return 0;
  } catch (const std::exception& e) {
    std::printf("%s\n", e.what());
    comm.abort(3);
  }
}
