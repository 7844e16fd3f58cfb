#!/usr/bin/env bash
# Data-parallel throughput for 1, 2 and 4 MPI ranks and the Partial FC head's memory per rank.
#   benchmarks/mpi/run_dist.sh [build-dir]             (build the target bench_dist first)
#   benchmarks/mpi/run_dist.sh build-dir overlap [STEPS]  only: 2 ranks, all-reduce overlapped with
#                                                       backward or not (1 MiB buckets)
set -euo pipefail
build=${1:-build}
bin="$build/benchmarks/mpi/bench_dist"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
run() { mpirun --oversubscribe --bind-to none "$@"; }
if [ "${2:-}" = overlap ]; then
  echo "== gradient all-reduce overlapped with backward: 2 ranks x 1 thread, 16 samples per rank, 1 MiB buckets"
  for ov in 0 1 0 1; do OMP_NUM_THREADS=1 run -np 2 "$bin" train "${3:-5}" 16 $ov 1024; done
  exit 0
fi
echo "== throughput: MobileFaceNet 112x96 + CurricularFace (1000 classes), 16 samples per rank"
OMP_NUM_THREADS=2 run -np 1 "$bin" train 5 16 | sed 's/$/   [1 rank x 2 OpenMP threads]/'
for np in 1 2 4; do OMP_NUM_THREADS=1 run -np $np "$bin" train 5 16 | sed 's/$/   [1 OpenMP thread per rank]/'; done
echo "== Partial FC head, 360k classes, d = 512, 64 samples per rank"
for np in 1 2 4; do
  for rate in 1.0 0.1; do OMP_NUM_THREADS=1 run -np $np "$bin" head 360000 $rate 64; done
done
