#pragma once
// Face recognition: margin policies and heads, verification metrics, embedding helpers, gallery.
#include "rfcf/recognition/margin_functors.hpp"
#include "rfcf/recognition/margin_head.hpp"
#include "rfcf/recognition/margin_loss.hpp"
#include "rfcf/recognition/margin_policies.hpp"
