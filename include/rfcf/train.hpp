#pragma once
// Training: optimizers over FlatParameters, learning-rate schedules, gradient clipping and
// accumulation, NaN guards, progress, CSV logs and checkpoints (docs/training.md).
#include "rfcf/train/adamw.hpp"
#include "rfcf/train/checkpoint.hpp"
#include "rfcf/train/csv_log.hpp"
#include "rfcf/train/detector_trainer.hpp"
#include "rfcf/train/finite.hpp"
#include "rfcf/train/functors.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/grad_scaler.hpp"
#include "rfcf/train/loss_curve.hpp"
#include "rfcf/train/lr_schedule.hpp"
#include "rfcf/train/parameter_flags.hpp"
#include "rfcf/train/progress.hpp"
#include "rfcf/train/sgd.hpp"
