#pragma once
// RetinaFace training loop (retinaface.md 8; docs/detector_training.md): threaded loader ->
// RetinaFace -> MultiBoxLoss -> gradient accumulation -> SGD with a multi-step or cosine
// schedule (optional linear warm-up), a progressive small-face schedule, progress lines, CSV logs,
// a loss-curve PNG, atomic checkpoints with optimizer state every epoch, resume, NaN/Inf guards
// and optional periodic WIDER FACE evaluation. rfcf-train-detector is a thin CLI over it.
//
//   train::DetectorTrainOptions o;  o.out_dir = "run";  o.epochs = 250;
//   train::DetectorTrainer<models::MobileNetV1025> t(data::read_wider_labels(path).images, o);
//   t.load_pretrained_backbone("mobilenetv1_025_imagenet.tar");
//   if (resume) t.resume();            // from <out_dir>/last.safetensors
//   t.fit();
//
// Resume contract: a checkpoint is written after each completed epoch and holds the weights,
// BatchNorm statistics and counters, the SGD momentum and step count, and the step/epoch
// counters. The data order and augmentation of an epoch depend only on (seed, epoch) and the
// schedules only on the step, so 2 epochs straight equal 1 epoch + resume + 1 epoch bit for bit.
//
// Data-parallel hooks: set_post_backward(f) is called once per optimizer step with the averaged
// gradients (after the last micro-batch's backward, before the update), e.g. to all-reduce them;
// set_loss_hook(f) per micro-batch between the loss and the network backward (loss normaliser);
// loader_options.shard_rank / shard_count (or loader().shard()) select this rank's data share;
// main_process = false keeps a rank from writing files and printing.
//
// Mixed precision: options.precision = bf16 | fp16 runs convolutions in 16 bits with fp32
// master weights (core/precision.hpp); fp16 adds dynamic loss scaling (train::GradScaler): a
// step whose outputs, loss or gradients overflow is skipped (weights unchanged, scale halved)
// instead of stopping training; the scaler state is saved in fp16 checkpoints.
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/precision.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/data/threaded_loader.hpp"
#include "rfcf/data/wider_labels.hpp"
#include "rfcf/detection/detector.hpp"
#include "rfcf/detection/multibox_loss.hpp"
#include "rfcf/detection/priors.hpp"
#include "rfcf/detection/wider_eval_run.hpp"
#include "rfcf/detection/widerface_eval.hpp"
#include "rfcf/models/imagenet_backbone.hpp"
#include "rfcf/models/retinaface.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/train/checkpoint.hpp"
#include "rfcf/train/csv_log.hpp"
#include "rfcf/train/finite.hpp"
#include "rfcf/train/grad_scaler.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/loss_curve.hpp"
#include "rfcf/train/lr_schedule.hpp"
#include "rfcf/train/progress.hpp"
#include "rfcf/train/sgd.hpp"

namespace rfcf::train {

struct DetectorTrainOptions {
  models::RetinaFaceOptions model = models::RetinaFaceOptions::mobilenet025();
  // Data: the loader's batch_size is the micro-batch; img_dim, crop scales etc. are in augment.
  data::DetectionLoaderOptions loader{};
  // Recipe (retinaface.md 8.1): SGD lr 1e-3, momentum 0.9, wd 5e-4 on every parameter,
  // x0.1 at epochs 190 and 220 of 250, no warm-up.
  int64_t epochs = 250;
  double lr = 1e-3, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "multistep";  // "multistep" | "cosine" (to min_lr at the last step)
  std::vector<int64_t> decay_epochs{190, 220};
  double gamma = 0.1;
  double min_lr = 0.0;
  double warmup_epochs = 0;            // linear warm-up from lr * warmup_start_factor
  double warmup_start_factor = 1.0 / 3.0;
  int64_t accumulate = 1;              // micro-batches per optimizer step (gradients averaged)
  bool guarded = false;                // guarded matching (retinaface.md 6, recommendation)
  // Compute precision of the convolutions (fp32 | bf16 | fp16); fp16 uses dynamic loss scaling.
  ComputePrecision precision = ComputePrecision::fp32;
  GradScalerOptions grad_scaler{};
  // Progressive schedule: during epoch e < progressive_epochs, faces whose shorter side at the
  // training resolution is below progressive_min_face * (1 - e / progressive_epochs) pixels are
  // ignored (neither faces nor background, see MultiBoxLoss::forward). 0 epochs: off.
  int64_t progressive_epochs = 0;
  double progressive_min_face = 0;
  // Output (only written when main_process).
  std::string out_dir = "run";
  int64_t snapshot_every = 0;          // also keep epoch_<e>.safetensors every N epochs (0: no)
  int64_t max_steps = 0;               // stop after this many optimizer steps in total (0: no limit)
  double progress_interval_s = 10;
  bool main_process = true;
  std::ostream* out = nullptr;         // progress and messages (nullptr: std::cerr)
  // Periodic WIDER evaluation every eval_every epochs (and after the last one) on eval_list
  // (<event>/<stem>.jpg lines) under eval_images, ground truth .mat files in eval_gt.
  int64_t eval_every = 0;
  std::string eval_images, eval_list, eval_gt;
  int64_t eval_long_side = 0;          // 0: original size (the reference protocol)
  bool eval_at_start = false;          // also evaluate before the first step (row "epoch 0")
  // Post-processing for the periodic evaluation: conf 0.02 and NMS 0.4 as the reference; the
  // top-k caps bound the cost of an untrained model that scores every anchor (-1: no cap).
  int64_t eval_top_k = 5000, eval_keep_top_k = 750;

  std::string last_checkpoint() const { return out_dir + "/last.safetensors"; }
  std::string weights_file() const { return out_dir + "/model.safetensors"; }
};

// Faces of one image (rows of 15 normalised values) split by the progressive threshold.
inline void split_by_face_size(const std::vector<float>& faces, double min_side, std::vector<float>& kept,
                               std::vector<float>& ignored) {
  kept.clear();
  ignored.clear();
  for (size_t i = 0; i + data::kFaceRow <= faces.size(); i += data::kFaceRow) {
    const float* f = faces.data() + i;
    const double side = std::min(f[2] - f[0], f[3] - f[1]);
    auto& dst = side < min_side ? ignored : kept;
    dst.insert(dst.end(), f, f + data::kFaceRow);
  }
}

// Minimum face side (pixels at the training size) of the progressive schedule in `epoch`.
inline double progressive_min_face(const DetectorTrainOptions& o, int64_t epoch) {
  if (o.progressive_epochs <= 0 || epoch >= o.progressive_epochs) return 0.0;
  return o.progressive_min_face * (1.0 - static_cast<double>(epoch) / static_cast<double>(o.progressive_epochs));
}

struct DetectorEpochStats {
  int64_t epoch = 0, steps = 0, images = 0;
  double loss = 0, loc = 0, conf = 0, landm = 0;  // means over the epoch's micro-batches
  double lr = 0, images_per_s = 0, seconds = 0, min_face = 0;
  int64_t skipped_steps = 0;  // fp16: steps skipped after an overflow
  std::optional<detection::WiderEvalResult> eval;
};

template <template <class, class> class Backbone = models::MobileNetV1025, class D = cpu>
class DetectorTrainer {
 public:
  using Network = models::RetinaFace<Backbone, D>;
  using Params = nn::FlatParameters<float, D>;
  using PostBackward = std::function<void(Params& params, int64_t step)>;
  using EpochEnd = std::function<void(const DetectorEpochStats&)>;
  using LossHook = std::function<detection::MultiBoxLossParts<float>(const detection::MultiBoxLossParts<float>& local,
                                                                      models::RetinaFaceOutput<float, D>& loss_grads)>;

  DetectorTrainer(std::vector<data::AnnotatedImage> images, DetectorTrainOptions o,
                  data::ImageDecoder decode = data::decode_bgr)
      : o_(std::move(o)),
        loader_(std::move(images), o_.loader, std::move(decode)),
        net_(seeded_model_options(o_)),
        params_(net_),
        sgd_(params_, SGDOptions{o_.lr, o_.momentum, 0.0, o_.weight_decay, false}),
        criterion_(make_loss_options(o_)),
        priors_(prior_options(o_.model)),
        scaler_(o_.grad_scaler) {
    check<ConfigError>(o_.epochs >= 1, "detector training: epochs must be >= 1, got ", o_.epochs);
    check<ConfigError>(o_.accumulate >= 1, "detector training: accumulate must be >= 1, got ", o_.accumulate);
    check<ConfigError>(o_.schedule == "multistep" || o_.schedule == "cosine", "detector training: unknown schedule '",
                       o_.schedule, "' (multistep | cosine)");
    check<ConfigError>(o_.warmup_epochs >= 0, "detector training: warmup_epochs must be >= 0");
    check<ConfigError>(o_.progressive_epochs >= 0 && o_.progressive_min_face >= 0,
                       "detector training: progressive epochs and minimum face size must be >= 0");
    check<ConfigError>(o_.eval_every == 0 || (!o_.eval_images.empty() && !o_.eval_list.empty() && !o_.eval_gt.empty()),
                       "detector training: evaluation needs the images folder, the image list and the ground truth");
    net_.train();
    schedule_ = make_schedule();
    ckpt_.model(net_).optimizer(sgd_).counter("step", step_).counter("epoch", epoch_);
    if (scaled()) ckpt_.optimizer(scaler_, "grad_scaler");
  }

  // --- setup ---------------------------------------------------------------------------------
  // ImageNet initialisation of the body (strict on the body; heads stay randomly initialised).
  models::BackboneLoadReport load_pretrained_backbone(const std::string& path) {
    return models::load_imagenet_backbone(net_.body(), path);
  }
  // Restores a checkpoint written by this trainer (default: <out_dir>/last.safetensors).
  void resume(const std::string& path = "") {
    const std::string p = path.empty() ? o_.last_checkpoint() : path;
    check<IoError>(std::filesystem::exists(p), "cannot resume: no checkpoint '", p, "'");
    ckpt_.load(p);
    say("resumed from " + p + " at epoch " + std::to_string(epoch_) + ", step " + std::to_string(step_));
  }
  void set_post_backward(PostBackward f) { post_backward_ = std::move(f); }
  // Runs per micro-batch between the loss's backward and the network's: gets the batch's loss
  // parts and the loss gradients (which it may rescale) and returns the parts to log
  // (dist::globally_normalize: the global batch's normaliser; see dist/detector_trainer.hpp).
  void set_loss_hook(LossHook f) { loss_hook_ = std::move(f); }
  const detection::MultiBoxLossOptions& loss_options() const { return criterion_.options(); }
  void set_epoch_end(EpochEnd f) { epoch_end_ = std::move(f); }

  // --- training ------------------------------------------------------------------------------
  // Trains until `epochs` epochs are complete (or max_steps). Returns the stats of each epoch run.
  std::vector<DetectorEpochStats> fit() {
    std::vector<DetectorEpochStats> all;
    if (o_.main_process) std::filesystem::create_directories(o_.out_dir);
    open_logs();
    ProgressOptions po;
    po.total_steps = o_.epochs * steps_per_epoch();
    po.steps_per_epoch = steps_per_epoch();
    po.min_interval_s = o_.progress_interval_s;
    po.prefix = "detector";
    po.out = &out();
    progress_ = std::make_unique<ProgressReporter>(po);
    if (o_.eval_every > 0 && o_.eval_at_start && epoch_ == 0 && step_ == 0) {
      DetectorEpochStats st;
      st.eval = evaluate();
      st.loss = st.loc = st.conf = st.landm = st.lr = std::numeric_limits<double>::quiet_NaN();
      if (o_.main_process) log_epoch(st);
    }
    while (epoch_ < o_.epochs && !max_steps_reached()) all.push_back(train_epoch());
    if (o_.main_process) {
      save_weights();
      say("weights: " + o_.weights_file());
    }
    return all;
  }

  // One epoch (the next one). Writes the checkpoint at its end unless max_steps cut it short.
  DetectorEpochStats train_epoch() {
    if (!progress_) {
      ProgressOptions po;
      po.min_interval_s = o_.progress_interval_s;
      po.prefix = "detector";
      po.out = &out();
      progress_ = std::make_unique<ProgressReporter>(po);
      open_logs();
    }
    DetectorEpochStats st;
    st.epoch = epoch_;
    st.min_face = progressive_min_face(o_, epoch_);
    const int64_t dim = o_.loader.augment.img_dim;
    const Tensor<float, cpu> priors = priors_.get(dim, dim);
    const double min_side = st.min_face / static_cast<double>(dim);
    const auto t0 = std::chrono::steady_clock::now();
    progress_->restart_clock();
    loader_.start_epoch(epoch_);
    GradAccumulator<float, D> acc(params_);
    acc.begin();
    int64_t micro = 0, batch_index = 0, step_images = 0, micro_total = 0;
    bool overflow = false;  // fp16: an output or loss of this step was not finite
    int64_t counted = 0;    // micro-batches of this step with a finite loss
    double s_loss = 0, s_loc = 0, s_conf = 0, s_landm = 0;  // sums over micro-batches of this step
    const int64_t batches = loader_.batches_per_epoch();
    std::vector<std::vector<float>> kept, ignored;
    while (auto b = loader_.next()) {
      ++batch_index;
      const int64_t B = b->images.dim(0);
      kept.resize(static_cast<size_t>(B));
      ignored.resize(static_cast<size_t>(B));
      bool any_ignored = false;
      for (int64_t i = 0; i < B; ++i) {
        split_by_face_size(b->targets[static_cast<size_t>(i)], min_side, kept[i], ignored[i]);
        any_ignored |= !ignored[i].empty();
      }
      LossParts_ parts{};
      bool micro_overflow = false;
      {
        Autocast autocast(o_.precision);
        const auto pred = net_.forward(b->images.template to<D>());
        if (scaled() && !finite_output(pred)) {
          micro_overflow = true;  // fp16 overflow: this step is skipped
        } else {
          guard_finite_output(pred);  // before the loss: NaN scores must not reach the negative ranking
          auto p = criterion_.forward(pred, kept, priors, any_ignored ? &ignored : nullptr);
          if (scaled() && !finite_parts({p.total, p.loc, p.conf, p.landm})) micro_overflow = true;
          else guard_finite(p);
          if (!micro_overflow) {
            auto loss_grads = criterion_.backward(static_cast<float>(scaled() ? scaler_.scale() : 1.0));
            if (loss_hook_) p = loss_hook_(p, loss_grads);  // e.g. the global batch's normaliser
            net_.backward(loss_grads);
          }
          parts = {p.total, p.loc, p.conf, p.landm};
        }
      }
      acc.add(B);
      ++micro;
      step_images += B;
      overflow |= micro_overflow;
      if (!micro_overflow) {  // an overflowed micro-batch (fp16) has no loss to average
        s_loss += parts.total, s_loc += parts.loc, s_conf += parts.conf, s_landm += parts.landm;
        st.loss += parts.total, st.loc += parts.loc, st.conf += parts.conf, st.landm += parts.landm;
        ++micro_total;
        ++counted;
      }
      if (micro < o_.accumulate && batch_index < batches) continue;
      // One optimizer step over the accumulated micro-batches.
      acc.finish();
      // A local fp16 overflow poisons the gradients so that the all-reduce carries it to every
      // rank and all of them skip this step together.
      if (overflow && scaled()) fill(params_.grads(), std::numeric_limits<float>::quiet_NaN());
      if (post_backward_) post_backward_(params_, step_);  // e.g. all-reduce across ranks
      bool skip = false;
      if (scaled()) {  // unscale; an overflow skips the update and lowers the scale
        skip = scaler_.unscale_and_check(params_.grads()) || overflow;
        scaler_.update(skip);
        overflow = false;
        if (skip) ++st.skipped_steps;
      }
      sgd_.set_lr(schedule_->at(step_));
      if (!skip) {
        const double gnorm = grad_norm(params_);
        if (!std::isfinite(gnorm)) guard_fail("gradient norm", gnorm);
        sgd_.step();
      }
      const double m = counted > 0 ? static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
      const LossParts lp{{"loss", s_loss / m}, {"loc", s_loc / m}, {"conf", s_conf / m}, {"landm", s_landm / m}};
      progress_->update(step_, step_images, lp, sgd_.lr());
      if (step_log_)
        step_log_->row({double(step_), double(epoch_), sgd_.lr(), s_loss / m, s_loc / m, s_conf / m, s_landm / m,
                        progress_->samples_per_second(), st.min_face});
      st.lr = sgd_.lr();
      st.images += step_images;
      ++st.steps;
      ++step_;
      acc.begin();
      micro = 0, step_images = 0, counted = 0, s_loss = s_loc = s_conf = s_landm = 0;
      if (max_steps_reached()) break;
    }
    if (max_steps_reached() && batch_index < batches) {
      loader_.stop();
      say("stopped after " + std::to_string(step_) + " steps (max_steps) in epoch " + std::to_string(epoch_) +
          "; the last checkpoint stays at the end of the previous epoch");
      finish_stats(st, micro_total, t0);
      return st;
    }
    ++epoch_;
    finish_stats(st, micro_total, t0);
    if (o_.eval_every > 0 && (epoch_ % o_.eval_every == 0 || epoch_ == o_.epochs)) st.eval = evaluate();
    end_of_epoch(st);
    return st;
  }

  // WIDER AP of the current weights on the configured list (see DetectorTrainOptions).
  detection::WiderEvalResult evaluate() {
    check<ConfigError>(!o_.eval_list.empty(), "evaluate: no evaluation list configured");
    if (!gt_) gt_ = detection::load_wider_ground_truth(o_.eval_gt);
    if (eval_list_.empty()) eval_list_ = detection::read_image_list(o_.eval_list);
    const std::string tmp = o_.out_dir + "/.eval_weights.safetensors";
    std::filesystem::create_directories(o_.out_dir);
    nn::save_safetensors(net_, tmp);
    detection::DetectorOptions dopt;
    dopt.model = o_.model;
    dopt.long_side = o_.eval_long_side;
    dopt.post.top_k = o_.eval_top_k;
    dopt.post.keep_top_k = o_.eval_keep_top_k;
    detection::Detector<Backbone, D> det(tmp, dopt);
    std::filesystem::remove(tmp);
    auto r = detection::evaluate_wider_images(det, o_.eval_images, eval_list_, *gt_);
    char buf[160];
    std::snprintf(buf, sizeof buf, "eval after epoch %lld: easy %.4f medium %.4f hard %.4f (%lld images)",
                  static_cast<long long>(epoch_), r.ap[0], r.ap[1], r.ap[2], static_cast<long long>(r.images));
    say(buf);
    if (progress_) progress_->restart_clock();
    return r;
  }

  // --- access --------------------------------------------------------------------------------
  Network& network() { return net_; }
  Params& parameters() { return params_; }
  SGD<float, D>& optimizer() { return sgd_; }
  data::DetectionLoader& loader() { return loader_; }
  Checkpoint& checkpoint() { return ckpt_; }
  GradScaler& grad_scaler() { return scaler_; }
  const DetectorTrainOptions& options() const { return o_; }
  const LrSchedule& schedule() const { return *schedule_; }
  int64_t step() const { return step_; }
  int64_t epoch() const { return epoch_; }
  int64_t steps_per_epoch() const { return (loader_.batches_per_epoch() + o_.accumulate - 1) / o_.accumulate; }

 private:
  // Random initialisation comes from the default generator: seed it, so the seed fixes the run.
  static const models::RetinaFaceOptions& seeded_model_options(const DetectorTrainOptions& o) {
    default_generator().seed(o.loader.seed);
    return o.model;
  }
  static detection::MultiBoxLossOptions make_loss_options(const DetectorTrainOptions& o) {
    detection::MultiBoxLossOptions lo;
    lo.match.guarded = o.guarded;
    lo.match.variances = {o.model.variances[0], o.model.variances[1]};
    return lo;
  }
  static detection::PriorBoxOptions prior_options(const models::RetinaFaceOptions& m) {
    detection::PriorBoxOptions po;
    po.min_sizes.clear();
    po.steps.clear();
    for (int l = 0; l < 3; ++l) {
      po.min_sizes.push_back({m.min_sizes[l][0], m.min_sizes[l][1]});
      po.steps.push_back(static_cast<int>(m.steps[l]));
    }
    return po;
  }
  std::shared_ptr<const LrSchedule> make_schedule() const {
    const int64_t spe = steps_per_epoch();
    std::shared_ptr<const LrSchedule> s;
    if (o_.schedule == "cosine") s = share(CosineLr(o_.lr, std::max<int64_t>(1, o_.epochs * spe), o_.min_lr));
    else s = share(MultiStepLr::from_epochs(o_.lr, o_.decay_epochs, spe, o_.gamma));
    const auto warm = static_cast<int64_t>(std::llround(o_.warmup_epochs * static_cast<double>(spe)));
    if (warm > 0) s = share(WarmupLr(s, warm, o_.warmup_start_factor));
    return s;
  }
  bool max_steps_reached() const { return o_.max_steps > 0 && step_ >= o_.max_steps; }
  std::ostream& out() const { return o_.out ? *o_.out : std::cerr; }
  void say(const std::string& s) const {
    if (o_.main_process) out() << "[detector] " << s << std::endl;
  }

  void open_logs() {
    if (!o_.main_process || step_log_) return;
    std::filesystem::create_directories(o_.out_dir);
    // A fresh run starts fresh logs; a resumed one appends.
    const CsvMode mode = step_ == 0 ? CsvMode::truncate : CsvMode::append;
    step_log_ = std::make_unique<CsvLogger>(o_.out_dir + "/log.csv",
                                            std::vector<std::string>{"step", "epoch", "lr", "loss", "loc", "conf",
                                                                     "landm", "images_per_s", "min_face"},
                                            mode);
    epoch_log_ = std::make_unique<CsvLogger>(
        o_.out_dir + "/epochs.csv",
        std::vector<std::string>{"epoch", "step", "lr", "loss", "loc", "conf", "landm", "images_per_s", "seconds",
                                 "min_face", "easy_ap", "medium_ap", "hard_ap"},
        mode);
  }

  // The four loss values of one micro-batch.
  struct LossParts_ {
    double total = 0, loc = 0, conf = 0, landm = 0;
  };
  static bool finite_parts(const LossParts_& p) {
    return std::isfinite(p.total) && std::isfinite(p.loc) && std::isfinite(p.conf) && std::isfinite(p.landm);
  }
  bool finite_output(const models::RetinaFaceOutput<float, D>& pred) const {
    for (const auto* t : {&pred.loc, &pred.conf, &pred.landms})
      if (!std::isfinite(ops::sum(*t))) return false;
    return true;
  }
  bool scaled() const { return o_.precision == ComputePrecision::fp16; }

  template <class Parts>
  void guard_finite(const Parts& p) {
    const std::pair<const char*, double> v[] = {
        {"loss", p.total}, {"loc loss", p.loc}, {"conf loss", p.conf}, {"landm loss", p.landm}};
    for (const auto& [name, x] : v)
      if (!std::isfinite(x)) guard_fail(name, x);
  }
  void guard_finite_output(const models::RetinaFaceOutput<float, D>& pred) {
    for (const auto* t : {&pred.loc, &pred.conf, &pred.landms}) {
      const Tensor<float, cpu> h = t->template to<cpu>();
      const float* p = h.data();
      for (int64_t i = 0, n = h.numel(); i < n; ++i)
        if (!std::isfinite(p[i])) guard_fail("loss (network output)", p[i]);
    }
  }
  [[noreturn]] void guard_fail(const char* what, double value) {
    loader_.stop();
    std::string msg;
    try {
      check_finite(value, step_, what);
    } catch (const NumericError& e) {
      msg = e.what();
    }
    const bool have = std::filesystem::exists(o_.last_checkpoint());
    msg += have ? "; weights not updated; the last good checkpoint is " + o_.last_checkpoint() +
                      " (epoch " + std::to_string(epoch_) + ")"
                : "; weights not updated; no checkpoint was written yet";
    throw NumericError(msg);
  }

  void finish_stats(DetectorEpochStats& st, int64_t micro_total, std::chrono::steady_clock::time_point t0) {
    const double n = static_cast<double>(std::max<int64_t>(micro_total, 1));
    st.loss /= n, st.loc /= n, st.conf /= n, st.landm /= n;
    st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    st.images_per_s = st.seconds > 0 ? static_cast<double>(st.images) / st.seconds : 0.0;
  }

  void save_weights() { nn::save_safetensors(net_, o_.weights_file()); }

  void end_of_epoch(const DetectorEpochStats& st) {
    if (o_.main_process) {
      // Checkpoint first (atomic), then the logs that refer to it.
      ckpt_.save(o_.last_checkpoint());
      if (o_.snapshot_every > 0 && epoch_ % o_.snapshot_every == 0)
        ckpt_.save(o_.out_dir + "/epoch_" + std::to_string(epoch_) + ".safetensors");
      save_weights();
      log_epoch(st);
      char buf[200];
      std::snprintf(buf, sizeof buf, "epoch %lld done: loss %.4f (loc %.4f conf %.4f landm %.4f) %.1f images/s, %.0f s",
                    static_cast<long long>(epoch_), st.loss, st.loc, st.conf, st.landm, st.images_per_s, st.seconds);
      say(buf);
    }
    if (epoch_end_) epoch_end_(st);
  }

  void log_epoch(const DetectorEpochStats& st) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    epoch_log_->row({double(epoch_), double(step_), st.lr, st.loss, st.loc, st.conf, st.landm, st.images_per_s,
                     st.seconds, st.min_face, st.eval ? st.eval->ap[0] : nan, st.eval ? st.eval->ap[1] : nan,
                     st.eval ? st.eval->ap[2] : nan});
    write_curves();
  }

  // loss_curve.png: per-step total loss and per-epoch means of the parts, against epochs.
  void write_curves() {
    const CsvTable steps = read_csv_table(o_.out_dir + "/log.csv");
    const CsvTable epochs = read_csv_table(o_.out_dir + "/epochs.csv");
    std::vector<io::Series> series;
    const double spe = static_cast<double>(steps_per_epoch());
    std::vector<double> sx = steps.column("step");
    for (double& x : sx) x = (x + 1) / spe;
    series.push_back({"loss per step", sx, steps.column("loss"), io::Color{190, 190, 190}});
    for (const char* c : {"loss", "loc", "conf", "landm"})
      series.push_back({std::string(c) + " (epoch mean)", epochs.column("epoch"), epochs.column(c), std::nullopt});
    io::PlotOptions po;
    po.title = "RetinaFace training loss";
    po.x_label = "epoch";
    po.y_label = "loss";
    po.y_min = 0.0;
    io::write_png(o_.out_dir + "/loss_curve.png", io::plot_lines(series, po));
    // ap_curve.png when evaluations were logged.
    std::vector<io::Series> ap;
    for (const char* c : {"easy_ap", "medium_ap", "hard_ap"}) {
      io::Series s{c, {}, {}, std::nullopt};
      const auto& e = epochs.column("epoch");
      const auto& v = epochs.column(c);
      for (size_t i = 0; i < v.size(); ++i)
        if (std::isfinite(v[i])) s.x.push_back(e[i]), s.y.push_back(v[i]);
      if (!s.x.empty()) ap.push_back(std::move(s));
    }
    if (ap.empty()) return;
    io::PlotOptions pa;
    pa.title = "WIDER FACE AP (evaluation list)";
    pa.x_label = "epoch";
    pa.y_label = "AP";
    pa.y_min = 0.0;
    pa.y_max = 1.0;
    pa.legend = io::LegendPosition::BottomRight;
    io::write_png(o_.out_dir + "/ap_curve.png", io::plot_lines(ap, pa));
  }

  DetectorTrainOptions o_;
  data::DetectionLoader loader_;
  Network net_;
  Params params_;
  SGD<float, D> sgd_;
  detection::MultiBoxLoss<float, D> criterion_;
  detection::PriorCache priors_;
  std::shared_ptr<const LrSchedule> schedule_;
  GradScaler scaler_;
  Checkpoint ckpt_;
  int64_t step_ = 0, epoch_ = 0;
  PostBackward post_backward_;
  LossHook loss_hook_;
  EpochEnd epoch_end_;
  std::unique_ptr<ProgressReporter> progress_;
  std::unique_ptr<CsvLogger> step_log_, epoch_log_;
  std::optional<detection::WiderGroundTruth> gt_;
  std::vector<std::string> eval_list_;
};

}  // namespace rfcf::train
