#pragma once
// RecognitionTrainer<Backbone, Policy, T, D>: one object that owns a backbone, a MarginHead<Policy>
// and an SGD optimizer over both, and performs training steps (recognition.md 8):
//   backbone.forward -> head.forward (margin + cross-entropy, accuracy of argmax(origin_cos))
//   -> head.backward -> backbone.backward            (per micro-batch; gradients accumulate)
//   -> average over micro-batches -> grad_hook -> optional clipping -> NaN/Inf check
//   -> lr from the schedule -> SGD step.
// Defaults follow insightface's arcface_torch: SGD momentum 0.9, weight decay 5e-4 on every
// parameter, polynomial (power 1) decay to 0 without warm-up. The CurricularFace recipe is
// multistep (x0.1 at epochs 10, 18, 22) with no decay on batch-norm parameters.
//
//   recognition::RecognitionTrainer<models::MobileFaceNet<float, cpu>, recognition::CurricularFace> tr(
//       models::MobileFaceNet<float, cpu>(), 128, num_classes, recognition::CurricularFace(0.5, 64), opts);
//   auto r = tr.step(images, labels);            // r.loss, r.accuracy, r.lr
//   tr.save("run/last.safetensors");  ...  tr.load("run/last.safetensors");
//
// Data parallelism: set_grad_hook(f) runs f(parameters) after the micro-batch gradients are
// averaged and before clipping and the optimizer step (e.g. an all-reduce that averages the flat
// gradient buffer over ranks); the CurricularFace t reduction is head().set_t_reducer(...).
// A NaN/Inf loss or gradient throws rfcf::NumericError; the trainer then refuses to save, so the
// last checkpoint on disk stays the last good one.
//
// Mixed precision (options.precision, core/precision.hpp): bf16 or fp16 convolutions and GEMMs
// with fp32 master weights (the parameters stay fp32). fp16 adds dynamic loss scaling
// (train::GradScaler): the loss gradient is multiplied by the scale, the gradients are unscaled
// after the hook, and a step whose loss or gradients are not finite is skipped (weights and
// momentum unchanged, scale halved, result.skipped) instead of throwing. The scaler state is
// saved in checkpoints of fp16 runs ("grad_scaler.scale", "grad_scaler.growth_tracker").
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/recognition/margin_head.hpp"
#include "rfcf/train/checkpoint.hpp"
#include "rfcf/train/finite.hpp"
#include "rfcf/train/grad_scaler.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/lr_schedule.hpp"
#include "rfcf/train/sgd.hpp"

namespace rfcf::recognition {

struct RecognitionTrainerOptions {
  // Optimizer.
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool no_decay_on_batchnorm = false;  // CurricularFace recipe: true
  // Schedule (stepped per optimizer step): "constant", "multistep" (x gamma at each milestone
  // epoch), "cosine" (to 0 at the end), "poly" (linear for power 1, to 0 at the end).
  std::string schedule = "poly";
  std::vector<int64_t> milestones{};  // epochs, for multistep
  double gamma = 0.1;
  double poly_power = 1.0;
  double warmup_epochs = 0.0;  // linear warm-up (from 0 for poly, from 1% of lr otherwise)
  int64_t epochs = 1;
  int64_t steps_per_epoch = 1;  // optimizer steps per epoch (loader batches / accumulate)
  // Micro-batches per optimizer step (gradient accumulation for small memory).
  int accumulate = 1;
  double clip_grad_norm = 0.0;  // 0: off (arcface_torch clips the backbone at 5)
  // Compute precision of convolutions and GEMMs; fp16 uses dynamic loss scaling.
  ComputePrecision precision = ComputePrecision::fp32;
  train::GradScalerOptions grad_scaler{};

  int64_t total_steps() const { return epochs * steps_per_epoch; }
  int64_t warmup_steps() const { return static_cast<int64_t>(std::llround(warmup_epochs * static_cast<double>(steps_per_epoch))); }
};

// The learning-rate schedule of the options.
inline std::shared_ptr<const train::LrSchedule> make_schedule(const RecognitionTrainerOptions& o) {
  check<ConfigError>(o.epochs >= 1 && o.steps_per_epoch >= 1, "trainer: epochs (", o.epochs, ") and steps_per_epoch (",
                     o.steps_per_epoch, ") must be >= 1");
  check<ConfigError>(o.warmup_epochs >= 0 && o.warmup_steps() < o.total_steps(), "trainer: warm-up of ", o.warmup_epochs,
                     " epochs must be shorter than the ", o.epochs, " epochs of training");
  const int64_t total = o.total_steps(), warm = o.warmup_steps();
  std::shared_ptr<const train::LrSchedule> inner;
  if (o.schedule == "poly") return train::share(train::PolyLr(o.lr, total, o.poly_power, warm));
  if (o.schedule == "constant") inner = train::share(train::ConstantLr(o.lr));
  else if (o.schedule == "multistep") inner = train::share(train::MultiStepLr::from_epochs(o.lr, o.milestones, o.steps_per_epoch, o.gamma));
  else if (o.schedule == "cosine") inner = train::share(train::CosineLr(o.lr, total));
  else fail<ConfigError>("trainer: unknown schedule '", o.schedule, "' (constant, multistep, cosine or poly)");
  if (warm == 0) return inner;
  return train::share(train::WarmupLr(inner, warm, 0.01));
}

// Turns weight decay off for batch-norm parameters: those whose layer also has a running_mean buffer.
template <class Model>
void no_weight_decay_on_batchnorm(Model& model) {
  std::set<std::string> bn_layers;
  const std::string suffix = "running_mean";
  nn::for_each_buffer(model, [&](const std::string& name, auto&) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      bn_layers.insert(name.substr(0, name.size() - suffix.size()));  // keeps the trailing '.'
  });
  nn::for_each_parameter(model, [&](const std::string& name, auto& p) {
    const auto dot = name.rfind('.');
    const std::string layer = dot == std::string::npos ? std::string() : name.substr(0, dot + 1);
    if (bn_layers.count(layer)) p.weight_decay = false;
  });
}

struct TrainStepResult {
  double loss = 0;       // mean over the micro-batches
  double accuracy = 0;   // argmax of the un-margined cosines, mean over the micro-batches
  double lr = 0;         // the rate this step used
  double grad_norm = 0;  // before clipping
  int64_t samples = 0;
  int64_t step = 0;      // index of this step (0-based)
  bool skipped = false;  // fp16: the loss or a gradient overflowed; no update was made
  double loss_scale = 1; // fp16: the loss scale this step used
};

template <class Backbone, class Policy, class T = float, class D = cpu>
class RecognitionTrainer {
 public:
  using Head = MarginHead<Policy, T, D>;
  using GradHook = std::function<void(nn::FlatParameters<T, D>&)>;

  RecognitionTrainer(Backbone backbone, int64_t embedding_size, int64_t num_classes, Policy policy = Policy{},
                     RecognitionTrainerOptions options = {}, MarginHeadOptions head_options = {},
                     Generator& gen = default_generator())
      : o_(std::move(options)),
        backbone_(std::move(backbone)),
        head_(embedding_size, num_classes, policy, head_options, gen),
        joint_{&backbone_, &head_},
        scaler_(o_.grad_scaler) {
    check<ConfigError>(o_.accumulate >= 1, "trainer: accumulate must be >= 1, got ", o_.accumulate);
    check<ConfigError>(o_.clip_grad_norm >= 0, "trainer: clip_grad_norm must be >= 0, got ", o_.clip_grad_norm);
    schedule_ = make_schedule(o_);
    if (o_.no_decay_on_batchnorm) no_weight_decay_on_batchnorm(joint_);
    params_ = std::make_unique<nn::FlatParameters<T, D>>(joint_);
    sgd_ = std::make_unique<train::SGD<T, D>>(*params_, train::SGDOptions{o_.lr, o_.momentum, 0.0, o_.weight_decay, false});
    acc_ = std::make_unique<train::GradAccumulator<T, D>>(*params_);
    ckpt_.model(backbone_).model(head_, "head").optimizer(*sgd_).counter("step", step_).counter("epoch", epoch_).counter(
        "batch_in_epoch", batch_in_epoch_);
    if (scaled()) ckpt_.optimizer(scaler_, "grad_scaler");
  }
  RecognitionTrainer(const RecognitionTrainer&) = delete;
  RecognitionTrainer& operator=(const RecognitionTrainer&) = delete;

  // One micro-batch: forward, loss, backward (gradients accumulate). Throws NumericError on a
  // non-finite loss.
  void accumulate(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    check<Error>(!diverged_, "trainer: training diverged earlier; load a checkpoint first");
    check<ShapeError>(images.rank() == 4 && images.dim(0) == static_cast<int64_t>(labels.size()), "trainer: images ",
                      images.shape().str(), " do not match ", labels.size(), " labels");
    if (micro_ == 0) {
      acc_->begin();
      loss_sum_ = acc_sum_ = 0;
    }
    backbone_.train(true);
    head_.train(true);
    Autocast autocast(o_.precision);
    Tensor<T, D> emb = backbone_.forward(images);
    auto out = head_.forward(emb, labels);
    const double loss = static_cast<double>(out.loss);
    if (!std::isfinite(loss) && scaled()) {
      overflow_ = true;  // fp16 overflow: the step is skipped in apply()
    } else {
      if (!std::isfinite(loss)) {
        diverged_ = true;
        micro_ = 0;
        train::check_finite(loss, step_, "loss");
      }
      backbone_.backward(head_.backward(static_cast<T>(scaled() ? scaler_.scale() : 1.0)));
    }
    acc_->add(images.dim(0));
    loss_sum_ += loss;
    acc_sum_ += out.accuracy;
    ++micro_;
  }

  // Ends the optimizer step: averages the accumulated gradients, runs the gradient hook, checks,
  // clips and steps. Throws NumericError on a non-finite gradient.
  TrainStepResult apply() {
    check<Error>(micro_ > 0, "trainer: apply() without a micro-batch");
    acc_->finish(true);
    // A local fp16 overflow poisons the gradients so that a data-parallel hook (all-reduce)
    // carries it to every rank and all of them skip this step together.
    if (overflow_ && scaled()) fill(params_->grads(), std::numeric_limits<T>::quiet_NaN());
    if (hook_) hook_(*params_);
    TrainStepResult r;
    r.loss = loss_sum_ / micro_;
    r.accuracy = acc_sum_ / micro_;
    r.samples = acc_->samples();
    r.step = step_;
    if (scaled()) {
      r.loss_scale = scaler_.scale();
      const bool found_inf = scaler_.unscale_and_check(params_->grads()) || overflow_;
      scaler_.update(found_inf);
      overflow_ = false;
      if (found_inf) {  // skip the update, keep the schedule position
        micro_ = 0;
        r.skipped = true;
        r.grad_norm = std::numeric_limits<double>::quiet_NaN();
        r.lr = schedule_->at(step_);
        ++step_;
        return r;
      }
    }
    r.grad_norm = o_.clip_grad_norm > 0 ? train::clip_grad_norm(*params_, o_.clip_grad_norm) : train::grad_norm(*params_);
    micro_ = 0;
    if (!std::isfinite(r.grad_norm)) {
      diverged_ = true;
      train::check_finite(r.grad_norm, step_, "gradient norm");
    }
    r.lr = schedule_->at(step_);
    sgd_->set_lr(r.lr);
    sgd_->step();
    ++step_;
    return r;
  }

  // One optimizer step on one batch (ignores options().accumulate).
  TrainStepResult step(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    accumulate(images, labels);
    return apply();
  }

  // Feeds one loader batch; every options().accumulate-th call completes an optimizer step and
  // returns its result.
  std::optional<TrainStepResult> feed(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    accumulate(images, labels);
    if (micro_ < o_.accumulate) return std::nullopt;
    return apply();
  }

  // Full training state: backbone (its own names), head ("head.weight", "head.t"), optimizer,
  // counters train.step / train.epoch / train.batch_in_epoch, plus metadata.
  void save(const std::string& path) {
    check<Error>(!diverged_, "trainer: refusing to save a diverged model over '", path, "' (the file there is the last good checkpoint)");
    check<Error>(micro_ == 0, "trainer: save() in the middle of an accumulated step");
    ckpt_.save(path);
  }
  void load(const std::string& path) {
    ckpt_.load(path);
    micro_ = 0;
    diverged_ = false;
    overflow_ = false;
  }
  // Metadata saved with every checkpoint (e.g. the configuration); after load(), what the file had.
  train::Checkpoint& checkpoint() { return ckpt_; }

  // Training position (saved in checkpoints): optimizer steps done, current epoch, loader batches
  // consumed in that epoch.
  int64_t steps_done() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_in_epoch_; }
  void set_position(int64_t epoch, int64_t batch_in_epoch) {
    epoch_ = epoch;
    batch_in_epoch_ = batch_in_epoch;
  }

  void set_grad_hook(GradHook hook) { hook_ = std::move(hook); }
  double lr_at(int64_t step) const { return schedule_->at(step); }
  bool diverged() const { return diverged_; }
  bool in_step() const { return micro_ > 0; }

  Backbone& backbone() { return backbone_; }
  Head& head() { return head_; }
  nn::FlatParameters<T, D>& parameters() { return *params_; }
  train::SGD<T, D>& optimizer() { return *sgd_; }
  train::GradScaler& grad_scaler() { return scaler_; }
  const RecognitionTrainerOptions& options() const { return o_; }

 private:
  // Backbone and head as one model for FlatParameters and the BN weight-decay rule.
  struct Joint {
    Backbone* b;
    Head* h;
    template <class V>
    void visit(V& v, const std::string& prefix) {
      b->visit(v, prefix);
      h->visit(v, nn::join_name(prefix, "head"));
    }
  };

  bool scaled() const { return o_.precision == ComputePrecision::fp16; }

  RecognitionTrainerOptions o_;
  Backbone backbone_;
  Head head_;
  Joint joint_;
  std::shared_ptr<const train::LrSchedule> schedule_;
  std::unique_ptr<nn::FlatParameters<T, D>> params_;
  std::unique_ptr<train::SGD<T, D>> sgd_;
  std::unique_ptr<train::GradAccumulator<T, D>> acc_;
  train::Checkpoint ckpt_;
  GradHook hook_;
  train::GradScaler scaler_;
  bool overflow_ = false;  // fp16: a non-finite loss in this step
  int64_t step_ = 0, epoch_ = 0, batch_in_epoch_ = 0;
  int micro_ = 0;
  double loss_sum_ = 0, acc_sum_ = 0;
  bool diverged_ = false;
};

}  // namespace rfcf::recognition
