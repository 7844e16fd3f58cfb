#pragma once
// Core: tensors, shapes, devices, allocators, executors, random initialisation.
#include "rfcf/core/allocator.hpp"
#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/half.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/shape.hpp"
#include "rfcf/core/tensor.hpp"
