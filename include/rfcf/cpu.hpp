#pragma once
// The cpu backend of every op family (Eigen GEMM, OpenMP). Not for nvcc translation units.
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/ops/cpu/conv2d.hpp"
#include "rfcf/ops/cpu/gemm.hpp"
