#pragma once
// Learning-rate schedules as pure functions of the iteration index: lr = schedule.at(step),
// step = 0 for the first optimizer step. Being stateless, a schedule needs nothing in a
// checkpoint beyond the step counter, and resuming at step s gives the same values.
// Typical loop:   opt.set_lr(schedule.at(step)); opt.step();
// Schedules given in epochs convert with steps_per_epoch (see MultiStepLr::from_epochs).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::train {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double at(int64_t step) const = 0;
  double operator()(int64_t step) const { return at(step); }
};

class ConstantLr final : public LrSchedule {
 public:
  explicit ConstantLr(double lr) : lr_(lr) {}
  double at(int64_t) const override { return lr_; }

 private:
  double lr_;
};

// torch.optim.lr_scheduler.MultiStepLR stepped every iteration: lr = base * gamma^k with
// k = number of milestones <= step (RetinaFace: milestones decay1*epoch_size, decay2*epoch_size).
class MultiStepLr final : public LrSchedule {
 public:
  MultiStepLr(double base_lr, std::vector<int64_t> milestones, double gamma = 0.1)
      : base_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
    check<ConfigError>(std::is_sorted(milestones_.begin(), milestones_.end()),
                       "MultiStepLr: milestones must be in increasing order");
  }
  // Milestones given in epochs, converted to iterations.
  static MultiStepLr from_epochs(double base_lr, const std::vector<int64_t>& epochs, int64_t steps_per_epoch,
                                 double gamma = 0.1) {
    check<ConfigError>(steps_per_epoch > 0, "MultiStepLr: steps_per_epoch must be > 0, got ", steps_per_epoch);
    std::vector<int64_t> m;
    for (int64_t e : epochs) m.push_back(e * steps_per_epoch);
    return MultiStepLr(base_lr, std::move(m), gamma);
  }
  double at(int64_t step) const override {
    const auto k = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
    return base_ * std::pow(gamma_, static_cast<double>(k));
  }

 private:
  double base_;
  std::vector<int64_t> milestones_;
  double gamma_;
};

// torch CosineAnnealingLR (closed form): eta_min + (base - eta_min) * (1 + cos(pi*step/T_max))/2
// for step <= T_max; stays at eta_min afterwards (PyTorch would rise again).
class CosineLr final : public LrSchedule {
 public:
  CosineLr(double base_lr, int64_t t_max, double eta_min = 0.0) : base_(base_lr), t_max_(t_max), eta_min_(eta_min) {
    check<ConfigError>(t_max > 0, "CosineLr: T_max must be > 0, got ", t_max);
  }
  double at(int64_t step) const override {
    if (step >= t_max_) return eta_min_;
    const double pi = 3.14159265358979323846;
    return eta_min_ + (base_ - eta_min_) * (1.0 + std::cos(pi * static_cast<double>(step) / static_cast<double>(t_max_))) / 2.0;
  }

 private:
  double base_;
  int64_t t_max_;
  double eta_min_;
};

// Polynomial decay as in arcface_torch's PolyScheduler: a linear ramp base*step/warmup for
// step < warmup, then base * (1 - (step - warmup)/(total - warmup))^power, 0 from `total` on.
// With warmup 0 this is torch.optim.lr_scheduler.PolynomialLR. arcface_torch's PolyScheduler
// hard-codes power 2, and because its constructor steps once the lr of iteration i >= 1 there
// is at(i - 1); its newer PolynomialLRWarmup uses power 1 by default.
class PolyLr final : public LrSchedule {
 public:
  PolyLr(double base_lr, int64_t total_steps, double power = 1.0, int64_t warmup_steps = 0)
      : base_(base_lr), total_(total_steps), power_(power), warmup_(warmup_steps) {
    check<ConfigError>(warmup_steps >= 0 && total_steps > warmup_steps, "PolyLr: need 0 <= warmup_steps (",
                       warmup_steps, ") < total_steps (", total_steps, ")");
  }
  double at(int64_t step) const override {
    if (step < warmup_) return base_ * static_cast<double>(step) / static_cast<double>(warmup_);
    const double t = static_cast<double>(std::min(step, total_) - warmup_) / static_cast<double>(total_ - warmup_);
    return base_ * std::pow(1.0 - t, power_);
  }

 private:
  double base_;
  int64_t total_;
  double power_;
  int64_t warmup_;
};

// Linear warm-up around any schedule: lr = f(step) * inner(step), f rising linearly from
// start_factor at step 0 to 1 at warmup_steps (torch LinearLR(start_factor, 1, warmup_steps)
// chained with the inner scheduler). warmup_steps 0 disables it.
class WarmupLr final : public LrSchedule {
 public:
  WarmupLr(std::shared_ptr<const LrSchedule> inner, int64_t warmup_steps, double start_factor = 1.0 / 3.0)
      : inner_(std::move(inner)), warmup_(warmup_steps), start_(start_factor) {
    check<ConfigError>(inner_ != nullptr, "WarmupLr: no inner schedule");
    check<ConfigError>(warmup_steps >= 0, "WarmupLr: warmup_steps must be >= 0, got ", warmup_steps);
    check<ConfigError>(start_factor > 0 && start_factor <= 1, "WarmupLr: start_factor must be in (0, 1], got ",
                       start_factor);
  }
  double at(int64_t step) const override {
    double f = 1.0;
    if (step < warmup_) f = start_ + (1.0 - start_) * static_cast<double>(step) / static_cast<double>(warmup_);
    return f * inner_->at(step);
  }

 private:
  std::shared_ptr<const LrSchedule> inner_;
  int64_t warmup_;
  double start_;
};

// Convenience: wraps a schedule value into a shared pointer for WarmupLr.
template <class S>
std::shared_ptr<const LrSchedule> share(S schedule) {
  return std::make_shared<const S>(std::move(schedule));
}

}  // namespace rfcf::train
