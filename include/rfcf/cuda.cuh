#pragma once
// rfcf for CUDA translation units (compile with nvcc): core, the cuda device policies and op
// backends, the device-independent ops and the layers. Deliberately NOT rfcf/cpu.hpp: Eigen
// stays out of nvcc (principle 5 of DESIGN.md). Put host-only code that needs the cpu backends
// in .cpp files compiled by the C++ compiler and link them into the same program.
#include "rfcf/core.hpp"
#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/device.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/executor.cuh"
#include "rfcf/core/cuda/graph.cuh"
#include "rfcf/core/cuda/graph_pool.cuh"
#include "rfcf/core/cuda/handles.cuh"
#include "rfcf/core/cuda/pinned.cuh"
#include "rfcf/core/cuda/staging.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/ops.hpp"
#include "rfcf/ops/cuda/batch_norm.cuh"
#include "rfcf/ops/cuda/conv2d.cuh"
#include "rfcf/ops/cuda/gemm.cuh"
#include "rfcf/ops/cuda/mixed_precision.cuh"
#include "rfcf/ops/cuda/reduce.cuh"
#include "rfcf/ops/cuda/softmax.cuh"
#include "rfcf/nn.hpp"
#include "rfcf/nn/cuda/captured_forward.cuh"
