#pragma once
// Primitive ops (device-independent declarations and functor ops).
#include "rfcf/ops/batch_norm.hpp"
#include "rfcf/ops/concat.hpp"
#include "rfcf/ops/conv2d.hpp"
#include "rfcf/ops/conv2d_check.hpp"
#include "rfcf/ops/elementwise.hpp"
#include "rfcf/ops/fold_batch_norm.hpp"
#include "rfcf/ops/gemm.hpp"
#include "rfcf/ops/pooling.hpp"
#include "rfcf/ops/reduce.hpp"
#include "rfcf/ops/softmax.hpp"
#include "rfcf/ops/sort.hpp"
#include "rfcf/ops/upsample.hpp"
