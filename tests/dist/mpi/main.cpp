// Catch2 runner of the MPI tests: every rank runs every test case in the same order (the cases
// call collectives); the job fails if any rank fails.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "dist/mpi/world.hpp"

int main(int argc, char** argv) {
  rfcf::dist::MpiEnvironment env(&argc, &argv);
  int rc = Catch::Session().run(argc, argv);
  try {
    std::vector<int64_t> v{rc};
    rfcf::dist::all_reduce_values<rfcf::cpu>(rfcf::testing::world(), v, rfcf::dist::ReduceOp::max);
    rc = static_cast<int>(v[0]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    rfcf::testing::world().abort(1);
  }
  return rc;
}
