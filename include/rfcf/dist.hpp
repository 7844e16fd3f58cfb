#pragma once
// Scale-out training (docs/distributed.md): the Communicator interface and its one-process back
// end, sample and class sharding, data-parallel gradient averaging, Partial FC, the launch
// environment and the TCP rendezvous. The MPI back end is rfcf/dist/mpi.hpp (needs MPI, target
// rfcf::mpi); the NCCL back end is rfcf/dist/nccl.cuh (nvcc, target rfcf::nccl).
#include "rfcf/dist/checkpoint.hpp"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/data_parallel.hpp"
#include "rfcf/dist/functors.hpp"
#include "rfcf/dist/launch.hpp"
#include "rfcf/dist/local.hpp"
#include "rfcf/dist/multibox.hpp"
#include "rfcf/dist/partial_fc.hpp"
#include "rfcf/dist/partial_fc_trainer.hpp"
#include "rfcf/dist/rendezvous.hpp"
#include "rfcf/dist/sharding.hpp"
