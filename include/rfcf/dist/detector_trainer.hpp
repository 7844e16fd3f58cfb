#pragma once
// Data-parallel train::DetectorTrainer (what rfcf-train-detector runs under mpirun): rank 0's
// weights everywhere, gradients averaged over the ranks before each update and, optionally, the
// loss normaliser of the global batch.
//
//   auto ddp = dist::data_parallel(trainer, comm, {.global_normalizer = true});
//   trainer.fit();
//
// Loss normaliser: MultiBoxLoss divides by the number of matched priors of its batch. By default
// every rank divides by its own count, as the reference trainer under PyTorch DDP does, so the
// result depends on how the global batch is split. With global_normalizer every micro-batch is
// divided by the count of the whole global micro-batch (dist::globally_normalize, one small
// all-reduce per micro-batch), and W ranks equal one process on the same global batch (where
// BatchNorm does not depend on the split, e.g. frozen statistics). Not in <rfcf/dist.hpp>: it
// pulls in the detector trainer (loader, evaluation).
#include <memory>

#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/data_parallel.hpp"
#include "rfcf/dist/multibox.hpp"
#include "rfcf/train/detector_trainer.hpp"

namespace rfcf::dist {

struct DetectorDataParallelOptions {
  bool global_normalizer = false;  // default: per-rank normaliser (reference DDP behaviour)
  DataParallelOptions gradients{};
};

// Broadcasts rank 0's model, installs the gradient averaging (and the global normaliser) in the
// trainer; returns the DataParallel, which the trainer keeps alive as well. Collective.
template <template <class, class> class Backbone, class D>
std::shared_ptr<DataParallel<float, D>> data_parallel(train::DetectorTrainer<Backbone, D>& trainer, Communicator& comm,
                                                      DetectorDataParallelOptions o = {}) {
  auto ddp = std::make_shared<DataParallel<float, D>>(comm, trainer.parameters(), o.gradients);
  ddp->broadcast_model(trainer.network());
  trainer.set_post_backward([ddp](auto&, int64_t) { ddp->sync_gradients(); });
  // The normaliser's all-reduce runs per micro-batch; an fp16 micro-batch that overflows on one
  // rank skips its loss backward and would leave the other ranks waiting.
  check<ConfigError>(!(o.global_normalizer && trainer.options().precision == ComputePrecision::fp16),
                     "data_parallel: the global loss normaliser does not support fp16 yet (use bf16 or fp32)");
  if (o.global_normalizer) {
    const double loc_weight = trainer.loss_options().loc_weight;
    Communicator* c = &comm;
    trainer.set_loss_hook([c, loc_weight](const detection::MultiBoxLossParts<float>& local,
                                          models::RetinaFaceOutput<float, D>& grads) {
      return globally_normalize(*c, local, grads, loc_weight);
    });
  }
  return ddp;
}

}  // namespace rfcf::dist
