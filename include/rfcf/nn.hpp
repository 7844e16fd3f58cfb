#pragma once
// Layers and composition templates.
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/nn/sequential.hpp"
#include "rfcf/nn/state_dict.hpp"
