#pragma once
// dist::PartialFCTrainer<Backbone, Policy, T, D>: recognition::RecognitionTrainer with the class
// matrix sharded over the ranks (dist::PartialFC, recognition.md 5) and the backbone data parallel
// (dist::DataParallel, built inside). Same step semantics, options and API as RecognitionTrainer:
//   backbone.forward -> PartialFC.forward (global batch) -> PartialFC.backward -> backbone.backward
//   (per micro-batch) -> average over micro-batches -> backbone gradients averaged over ranks
//   -> global gradient norm (backbone + every rank's rows) -> optional clipping -> NaN/Inf check
//   -> lr from the schedule -> SGD step on the backbone and on this rank's rows.
// Every call is collective: all ranks call it with local batches of the same size.
//
// Checkpoints have RecognitionTrainer's layout exactly: the whole head "head.weight" [C, d], its
// momentum "optimizer.head.weight.momentum_buffer" and "head.t" (rank 0's). save() gathers the
// rows and momentum of every rank and rank 0 writes; load() reads the file on every rank and each
// keeps its own rows. Hence a checkpoint resumes on any number of ranks, with or without Partial
// FC (RecognitionTrainer loads it too).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/dist/checkpoint.hpp"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/data_parallel.hpp"
#include "rfcf/dist/partial_fc.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/recognition/trainer.hpp"
#include "rfcf/train/checkpoint.hpp"
#include "rfcf/train/finite.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/sgd.hpp"

namespace rfcf::dist {

template <class Backbone, class Policy, class T = float, class D = cpu>
class PartialFCTrainer {
 public:
  using Head = PartialFC<Policy, T, D>;

  PartialFCTrainer(Communicator& comm, Backbone backbone, int64_t embedding_size, int64_t num_classes,
                   Policy policy = Policy{}, recognition::RecognitionTrainerOptions options = {},
                   PartialFCOptions head_options = {}, DataParallelOptions ddp_options = {})
      : comm_(&comm), o_(std::move(options)), backbone_(std::move(backbone)),
        head_(comm, embedding_size, num_classes, policy, head_options), state_{this} {
    check<ConfigError>(o_.accumulate >= 1, "PartialFCTrainer: accumulate must be >= 1, got ", o_.accumulate);
    check<ConfigError>(o_.clip_grad_norm >= 0, "PartialFCTrainer: clip_grad_norm must be >= 0, got ", o_.clip_grad_norm);
    // The sharded head and its step have no mixed-precision path yet (autocast, loss scaling).
    check<ConfigError>(o_.precision == ComputePrecision::fp32, "PartialFCTrainer: precision ",
                       precision_name(o_.precision), " is not supported with Partial FC yet; use fp32");
    schedule_ = recognition::make_schedule(o_);
    if (o_.no_decay_on_batchnorm) recognition::no_weight_decay_on_batchnorm(backbone_);
    backbone_params_ = std::make_unique<nn::FlatParameters<T, D>>(backbone_);
    head_params_ = std::make_unique<nn::FlatParameters<T, D>>(head_);
    const train::SGDOptions so{o_.lr, o_.momentum, 0.0, o_.weight_decay, false};
    backbone_sgd_ = std::make_unique<train::SGD<T, D>>(*backbone_params_, so);
    head_sgd_ = std::make_unique<train::SGD<T, D>>(*head_params_, so);
    backbone_acc_ = std::make_unique<train::GradAccumulator<T, D>>(*backbone_params_);
    head_acc_ = std::make_unique<train::GradAccumulator<T, D>>(*head_params_);
    ddp_ = std::make_unique<DataParallel<T, D>>(comm, *backbone_params_, ddp_options);
    ddp_->broadcast_model(backbone_);  // the rows of the head are per class already
    ckpt_.model(backbone_).model(state_).optimizer(*backbone_sgd_).counter("step", step_).counter("epoch", epoch_).counter(
        "batch_in_epoch", batch_in_epoch_);
  }
  PartialFCTrainer(const PartialFCTrainer&) = delete;
  PartialFCTrainer& operator=(const PartialFCTrainer&) = delete;

  // One local micro-batch (collective): forward, loss, backward; gradients accumulate.
  void accumulate(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    check<Error>(!diverged_, "PartialFCTrainer: training diverged earlier; load a checkpoint first");
    check<ShapeError>(images.rank() == 4 && images.dim(0) == static_cast<int64_t>(labels.size()),
                      comm_->where(), ": PartialFCTrainer: images ", images.shape().str(), " do not match ",
                      labels.size(), " labels");
    if (micro_ == 0) {
      backbone_acc_->begin();
      head_acc_->begin();
      loss_sum_ = acc_sum_ = 0;
    }
    backbone_.train(true);
    head_.train(true);
    const Tensor<T, D> emb = backbone_.forward(images);
    const PartialFCOutput<T> out = head_.forward(emb, labels);
    const double loss = static_cast<double>(out.loss);  // the global batch's: the same on every rank
    if (!std::isfinite(loss)) {
      diverged_ = true;
      micro_ = 0;
      train::check_finite(loss, step_, "loss");
    }
    backbone_.backward(head_.backward(T(1)));
    backbone_acc_->add(images.dim(0));
    head_acc_->add(images.dim(0));
    loss_sum_ += loss;
    acc_sum_ += out.accuracy;
    ++micro_;
  }

  // Ends the optimizer step (collective). Throws NumericError on a non-finite gradient norm.
  recognition::TrainStepResult apply() {
    check<Error>(micro_ > 0, "PartialFCTrainer: apply() without a micro-batch");
    backbone_acc_->finish(true);
    head_acc_->finish(true);
    ddp_->sync_gradients();
    recognition::TrainStepResult r;
    r.loss = loss_sum_ / micro_;
    r.accuracy = acc_sum_ / micro_;
    r.samples = backbone_acc_->samples();
    r.step = step_;
    r.grad_norm = global_grad_norm();
    if (o_.clip_grad_norm > 0 && std::isfinite(r.grad_norm)) {  // torch.nn.utils.clip_grad_norm_
      const double coef = std::min(o_.clip_grad_norm / (r.grad_norm + 1e-6), 1.0);
      train::scale_grads(*backbone_params_, coef);
      train::scale_grads(*head_params_, coef);
    }
    micro_ = 0;
    if (!std::isfinite(r.grad_norm)) {
      diverged_ = true;
      train::check_finite(r.grad_norm, step_, "gradient norm");
    }
    r.lr = schedule_->at(step_);
    backbone_sgd_->set_lr(r.lr);
    head_sgd_->set_lr(r.lr);
    backbone_sgd_->step();
    head_sgd_->step();
    ++step_;
    return r;
  }

  recognition::TrainStepResult step(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    accumulate(images, labels);
    return apply();
  }
  std::optional<recognition::TrainStepResult> feed(const Tensor<T, D>& images, const std::vector<int64_t>& labels) {
    accumulate(images, labels);
    if (micro_ < o_.accumulate) return std::nullopt;
    return apply();
  }

  // Collective: gathers the head of every rank; rank 0 writes RecognitionTrainer's layout.
  void save(const std::string& path) {
    check<Error>(!diverged_, "PartialFCTrainer: refusing to save a diverged model over '", path,
                 "' (the file there is the last good checkpoint)");
    check<Error>(micro_ == 0, "PartialFCTrainer: save() in the middle of an accumulated step");
    full_weight_ = head_.gather_weight();
    if (head_sgd_->momentum_buffer().defined())
      full_momentum_ = head_.gather_rows(momentum_rows()).reshape(Shape{head_.num_classes() * head_.embedding_size()});
    full_t_ = Tensor<T, cpu>::from_host(Shape{1}, std::vector<T>{static_cast<T>(head_.t_value())});
    try {
      save_on_root<D>(*comm_, ckpt_, path);
    } catch (...) {
      release_full();
      throw;
    }
    release_full();
  }
  // Every rank reads the whole file (written by any number of ranks) and keeps its rows.
  void load(const std::string& path) {
    const int64_t C = head_.num_classes(), d = head_.embedding_size();
    full_weight_ = Tensor<T, cpu>(Shape{C, d});
    if (head_sgd_->momentum_buffer().defined()) full_momentum_ = Tensor<T, cpu>(Shape{C * d});
    full_t_ = Tensor<T, cpu>(Shape{1});
    try {
      ckpt_.load(path);
    } catch (...) {
      release_full();
      throw;
    }
    head_.load_full_weight(full_weight_);
    if (full_momentum_.defined()) {
      Tensor<T, D> rows = momentum_rows();
      head_.load_full_rows(full_momentum_.reshape(Shape{C, d}), rows);
    }
    if constexpr (Policy::uses_t) head_.set_t(static_cast<double>(full_t_.to_vector()[0]));
    StepCounter sc{backbone_sgd_->steps()};
    head_sgd_->visit_state(sc, "optimizer");
    release_full();
    micro_ = 0;
    diverged_ = false;
  }
  train::Checkpoint& checkpoint() { return ckpt_; }

  int64_t steps_done() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return batch_in_epoch_; }
  void set_position(int64_t epoch, int64_t batch_in_epoch) {
    epoch_ = epoch;
    batch_in_epoch_ = batch_in_epoch;
  }
  double lr_at(int64_t step) const { return schedule_->at(step); }
  bool diverged() const { return diverged_; }
  bool in_step() const { return micro_ > 0; }

  Backbone& backbone() { return backbone_; }
  Head& head() { return head_; }
  nn::FlatParameters<T, D>& backbone_parameters() { return *backbone_params_; }
  nn::FlatParameters<T, D>& head_parameters() { return *head_params_; }
  train::SGD<T, D>& backbone_optimizer() { return *backbone_sgd_; }
  train::SGD<T, D>& head_optimizer() { return *head_sgd_; }
  DataParallel<T, D>& data_parallel() { return *ddp_; }
  Communicator& communicator() { return *comm_; }
  const recognition::RecognitionTrainerOptions& options() const { return o_; }

 private:
  // The head's part of a checkpoint, under RecognitionTrainer's names, from the gathered copies.
  struct FullHeadState {
    PartialFCTrainer* self;
    template <class V>
    void visit(V& v, const std::string& prefix) {
      v.buffer(nn::join_name(prefix, "head.weight"), self->full_weight_);
      if constexpr (Policy::uses_t) v.buffer(nn::join_name(prefix, "head.t"), self->full_t_);
      if (self->full_momentum_.defined())
        v.buffer(nn::join_name(prefix, "optimizer.head.weight.momentum_buffer"), self->full_momentum_);
    }
  };
  // Sets an optimizer's step counter (the head's SGD follows the backbone's).
  struct StepCounter {
    int64_t steps;
    template <class U, class D2>
    void buffer(const std::string&, Tensor<U, D2>&) {}
    void counter(const std::string&, int64_t& c) { c = steps; }
  };

  Tensor<T, D> momentum_rows() {
    return head_sgd_->momentum_buffer().reshape(head_.weight().value.shape());
  }
  void release_full() {
    full_weight_ = Tensor<T, cpu>();
    full_momentum_ = Tensor<T, cpu>();
  }
  // sqrt(|backbone gradient|^2 + sum over ranks of |rows gradient|^2).
  double global_grad_norm() {
    const double b = train::grad_norm(*backbone_params_);
    std::vector<double> h{train::grad_norm(*head_params_)};
    h[0] *= h[0];
    all_reduce_values<D>(*comm_, h, ReduceOp::sum);
    return std::sqrt(b * b + h[0]);
  }

  Communicator* comm_;
  recognition::RecognitionTrainerOptions o_;
  Backbone backbone_;
  Head head_;
  FullHeadState state_;
  std::shared_ptr<const train::LrSchedule> schedule_;
  std::unique_ptr<nn::FlatParameters<T, D>> backbone_params_, head_params_;
  std::unique_ptr<train::SGD<T, D>> backbone_sgd_, head_sgd_;
  std::unique_ptr<train::GradAccumulator<T, D>> backbone_acc_, head_acc_;
  std::unique_ptr<DataParallel<T, D>> ddp_;
  train::Checkpoint ckpt_;
  Tensor<T, cpu> full_weight_, full_momentum_, full_t_;
  int64_t step_ = 0, epoch_ = 0, batch_in_epoch_ = 0;
  int micro_ = 0;
  double loss_sum_ = 0, acc_sum_ = 0;
  bool diverged_ = false;
};

}  // namespace rfcf::dist
