#pragma once
// data: see docs/ and the headers in rfcf/data/.
#include "rfcf/data/batch_pipeline.hpp"
#include "rfcf/data/detection_augment.hpp"
#include "rfcf/data/hsv.hpp"
#include "rfcf/data/identity_split.hpp"
#include "rfcf/data/pixel_functors.hpp"
#include "rfcf/data/recognition_augment.hpp"
#include "rfcf/data/recognition_dataset.hpp"
#include "rfcf/data/recognition_loader.hpp"
#include "rfcf/data/threaded_loader.hpp"
#include "rfcf/data/wider_labels.hpp"
