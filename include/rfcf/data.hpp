#pragma once
// data: see docs/ and the headers in rfcf/data/.
#include "rfcf/data/detection_augment.hpp"
#include "rfcf/data/hsv.hpp"
#include "rfcf/data/threaded_loader.hpp"
#include "rfcf/data/wider_labels.hpp"
