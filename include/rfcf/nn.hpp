#pragma once
// Layers and composition templates.
#include "rfcf/nn/composite.hpp"
#include "rfcf/nn/conv2d.hpp"
#include "rfcf/nn/flatten.hpp"
#include "rfcf/nn/leaky_relu.hpp"
#include "rfcf/nn/linear.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/nn/pooling.hpp"
#include "rfcf/nn/sequential.hpp"
#include "rfcf/nn/upsample.hpp"
