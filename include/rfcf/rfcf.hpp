#pragma once
// rfcf: the whole library for CPU translation units. CUDA translation units include
// <rfcf/cuda.cuh> as well (compiled with nvcc).
#include "rfcf/core.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/ops.hpp"
#include "rfcf/nn.hpp"
#include "rfcf/io.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/models.hpp"
#include "rfcf/data.hpp"
#include "rfcf/train.hpp"
#include "rfcf/dist.hpp"
