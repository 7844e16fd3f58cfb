#pragma once
// Primitive ops (CPU implementations and device-generic functor ops).
#include "rfcf/ops/concat.hpp"
#include "rfcf/ops/elementwise.hpp"
