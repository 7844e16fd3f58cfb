#pragma once
// Console progress for training loops: step (and epoch), named loss parts, learning rate,
// throughput in samples/s and an ETA from moving averages of the step time. Printed to
// stderr (or any stream), at most once per `min_interval_s` seconds, plus the first and last
// step, so a fast loop does not flood the terminal.
//   train::ProgressReporter progress({.total_steps = 1000, .steps_per_epoch = 100});
//   for (step ...) { ...; progress.update(step, batch, {{"loss", loss}, {"cls", cls}}, lr); }
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::train {

using LossParts = std::vector<std::pair<std::string, double>>;

struct ProgressOptions {
  int64_t total_steps = 0;      // 0: unknown (no ETA)
  int64_t steps_per_epoch = 0;  // 0: no epoch column
  double min_interval_s = 2.0;  // rate limit of printed lines
  double smoothing = 0.1;       // weight of the newest step time in the moving average
  std::string prefix = "train";
  std::ostream* out = nullptr;              // nullptr: std::cerr
  std::function<double()> clock = nullptr;  // seconds; nullptr: steady_clock (tests inject one)
};

// "1h02m03s" / "4m05s" / "6s".
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[48];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(s / 3600),
                               static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

class ProgressReporter {
 public:
  explicit ProgressReporter(ProgressOptions options = {}) : opt_(std::move(options)) {
    check<ConfigError>(opt_.min_interval_s >= 0, "ProgressReporter: min_interval_s must be >= 0");
    check<ConfigError>(opt_.smoothing > 0 && opt_.smoothing <= 1, "ProgressReporter: smoothing must be in (0, 1]");
    if (!opt_.clock) {
      opt_.clock = [] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
      };
    }
    last_time_ = opt_.clock();
  }

  // Call after each completed step (0-based `step`) with the samples it processed. Returns
  // true if a line was printed. lr is printed when finite.
  bool update(int64_t step, int64_t samples, const LossParts& losses = {},
              double lr = std::numeric_limits<double>::quiet_NaN()) {
    const double now = opt_.clock();
    // The first update after construction (or resume_at) covers one step.
    const int64_t steps_done = last_step_ < 0 ? 1 : step - last_step_;
    if (steps_done > 0) {
      const double dt = (now - last_time_) / static_cast<double>(steps_done);
      const double per_step_samples = static_cast<double>(samples);
      if (step_time_ < 0) {
        step_time_ = dt;
        step_samples_ = per_step_samples;
      } else {
        step_time_ += opt_.smoothing * (dt - step_time_);
        step_samples_ += opt_.smoothing * (per_step_samples - step_samples_);
      }
    }
    last_time_ = now;
    last_step_ = step;
    const bool last = opt_.total_steps > 0 && step + 1 >= opt_.total_steps;
    if (printed_ && !last && now - last_print_ < opt_.min_interval_s) return false;
    printed_ = true;
    last_print_ = now;
    out() << line(step, losses, lr) << '\n';
    out().flush();
    return true;
  }

  // Smoothed throughput and remaining time (NaN until known).
  double samples_per_second() const { return step_time_ > 0 ? step_samples_ / step_time_ : std::numeric_limits<double>::quiet_NaN(); }
  double eta_seconds() const {
    if (opt_.total_steps <= 0 || step_time_ < 0 || last_step_ < 0) return std::numeric_limits<double>::quiet_NaN();
    return static_cast<double>(std::max<int64_t>(0, opt_.total_steps - last_step_ - 1)) * step_time_;
  }
  // Restarts the clock, e.g. after evaluation or loading a checkpoint, so the pause does not
  // count as step time.
  void restart_clock() {
    last_time_ = opt_.clock();
    last_step_ = -1;
  }

  std::string line(int64_t step, const LossParts& losses, double lr) const {
    std::string s = "[" + opt_.prefix + "] step " + std::to_string(step + 1);
    if (opt_.total_steps > 0) s += "/" + std::to_string(opt_.total_steps);
    if (opt_.steps_per_epoch > 0) s += " epoch " + std::to_string(step / opt_.steps_per_epoch);
    char buf[64];
    for (const auto& [name, value] : losses) {
      std::snprintf(buf, sizeof buf, " %.5g", value);
      s += " " + name + buf;
    }
    if (std::isfinite(lr)) {
      std::snprintf(buf, sizeof buf, " | lr %.3g", lr);
      s += buf;
    }
    const double sps = samples_per_second();
    if (std::isfinite(sps)) {
      std::snprintf(buf, sizeof buf, " | %.1f samples/s", sps);
      s += buf;
    }
    if (opt_.total_steps > 0 && std::isfinite(eta_seconds())) s += " | ETA " + format_duration(eta_seconds());
    return s;
  }

 private:
  std::ostream& out() const { return opt_.out ? *opt_.out : std::cerr; }

  ProgressOptions opt_;
  double last_time_ = 0, last_print_ = 0;
  int64_t last_step_ = -1;
  double step_time_ = -1, step_samples_ = 0;
  bool printed_ = false;
};

}  // namespace rfcf::train
