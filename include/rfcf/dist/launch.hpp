#pragma once
// How this process was started, read from the environment:
//   mpi:    under mpirun / srun with PMI (OMPI_COMM_WORLD_*, PMI_*, PMIX_RANK): MPI collectives on
//           the CPU, and MPI bootstraps NCCL on GPUs;
//   env:    torchrun-style RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT: a TCP
//           rendezvous (dist/rendezvous.hpp) bootstraps NCCL; CPU collectives need MPI, so CPU
//           training with WORLD_SIZE > 1 must be started with mpirun;
//   single: neither (one process, LocalCommunicator).
// RFCF_DIST_TIMEOUT (seconds) sets the collective timeout of every back end.
#include <cstdlib>
#include <string>

#include "rfcf/core/error.hpp"

namespace rfcf::dist {

enum class Launcher { single, mpi, env };

struct LaunchInfo {
  Launcher launcher = Launcher::single;
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr;  // env launcher only
  int master_port = 0;
};

namespace detail {
inline const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}
inline int env_int(const char* name, int fallback) {
  const char* v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  check<ConfigError>(end && *end == '\0' && x >= 0 && x < (1L << 30), "environment variable ", name, "='", v,
                     "' is not a non-negative integer");
  return static_cast<int>(x);
}
}  // namespace detail

inline const char* name_of(Launcher l) {
  switch (l) {
    case Launcher::single: return "single process";
    case Launcher::mpi: return "mpirun";
    case Launcher::env: return "RANK/WORLD_SIZE environment";
  }
  return "?";
}

inline LaunchInfo detect_launch() {
  using detail::env;
  using detail::env_int;
  LaunchInfo info;
  if (env("OMPI_COMM_WORLD_SIZE") || env("PMI_SIZE") || env("PMIX_RANK")) {
    info.launcher = Launcher::mpi;
    info.rank = env_int("OMPI_COMM_WORLD_RANK", env_int("PMI_RANK", env_int("PMIX_RANK", 0)));
    info.world = env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1));
    info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", 0));
    return info;  // MPI itself is authoritative; the communicator reads rank and size from it
  }
  if (env("WORLD_SIZE") || env("RANK")) {
    info.launcher = Launcher::env;
    info.rank = env_int("RANK", 0);
    info.world = env_int("WORLD_SIZE", 1);
    info.local_rank = env_int("LOCAL_RANK", 0);
    check<ConfigError>(info.world >= 1 && info.rank < info.world, "RANK=", info.rank, " is outside WORLD_SIZE=",
                       info.world);
    if (info.world > 1) {
      const char* addr = env("MASTER_ADDR");
      check<ConfigError>(addr != nullptr, "WORLD_SIZE=", info.world, " needs MASTER_ADDR (the host of rank 0)");
      info.master_addr = addr;
      info.master_port = env_int("MASTER_PORT", 29500);
      check<ConfigError>(info.master_port > 0 && info.master_port < 65536, "MASTER_PORT=", info.master_port,
                         " is not a TCP port");
    }
  }
  return info;
}

// Collective timeout in seconds: RFCF_DIST_TIMEOUT if set, else `fallback`.
inline double timeout_from_env(double fallback = 600.0) {
  const char* v = detail::env("RFCF_DIST_TIMEOUT");
  if (!v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  check<ConfigError>(end && *end == '\0' && x > 0, "RFCF_DIST_TIMEOUT='", v, "' is not a positive number of seconds");
  return x;
}

}  // namespace rfcf::dist
