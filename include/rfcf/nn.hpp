#pragma once
// Layers and composition templates.
#include "rfcf/nn/activation.hpp"
#include "rfcf/nn/batch_norm.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/dropout.hpp"
#include "rfcf/nn/l2_normalize.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/loss.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/nn/sequential.hpp"
