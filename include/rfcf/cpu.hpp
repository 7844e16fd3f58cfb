#pragma once
// The cpu backend of every op family (Eigen GEMM, OpenMP). Not for nvcc translation units.
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/ops/cpu/batch_norm.hpp"
#include "rfcf/ops/cpu/conv2d.hpp"
#include "rfcf/ops/cpu/gemm.hpp"
#include "rfcf/ops/cpu/mixed_precision.hpp"
#include "rfcf/ops/cpu/reduce.hpp"
#include "rfcf/ops/cpu/softmax.hpp"
#include "rfcf/ops/cpu/sort.hpp"
