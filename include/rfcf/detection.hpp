#pragma once
// detection: see docs/detection.md and the headers in rfcf/detection/.
#include "rfcf/detection/box_coding.hpp"
#include "rfcf/detection/detection_json.hpp"
#include "rfcf/detection/nms.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/detection/priors.hpp"
#include "rfcf/detection/python_format.hpp"
#include "rfcf/detection/wider_results.hpp"
#include "rfcf/detection/widerface_eval.hpp"
#include "rfcf/detection/widerface_plot.hpp"
