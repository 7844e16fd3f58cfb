// Progress reporter (with an injected clock: no timing), CSV log, NaN/Inf guard.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "rfcf/train/csv_log.hpp"
#include "rfcf/train/finite.hpp"
#include "rfcf/train/progress.hpp"

using namespace rfcf;

namespace {
std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
std::filesystem::path temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / "rfcf_train_tests";
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  return p;
}
}  // namespace

TEST_CASE("progress reporter prints rate-limited lines with throughput and ETA", "[train][progress]") {
  double now = 100.0;
  std::ostringstream out;
  train::ProgressReporter progress({.total_steps = 10,
                                    .steps_per_epoch = 4,
                                    .min_interval_s = 1.0,
                                    .smoothing = 1.0,
                                    .out = &out,
                                    .clock = [&] { return now; }});
  int printed = 0;
  for (int64_t step = 0; step < 10; ++step) {
    now += 0.25;  // each step of 8 samples takes 0.25 s -> 32 samples/s
    printed += progress.update(step, 8, {{"loss", 2.0 - 0.1 * static_cast<double>(step)}, {"cls", 0.5}}, 0.01);
  }
  // First step, then at most once per second (every 4th step), and the last step.
  CHECK(printed == 4);
  CHECK(progress.samples_per_second() == Approx(32.0));
  const std::string text = out.str();
  INFO(text);
  CHECK(text.find("[train] step 1/10 epoch 0 loss 2 cls 0.5 | lr 0.01 | 32.0 samples/s | ETA 2s") != std::string::npos);
  CHECK(text.find("step 10/10 epoch 2") != std::string::npos);
  CHECK(text.find("ETA 0s") != std::string::npos);
  CHECK(train::format_duration(3723) == "1h02m03s");
  CHECK(train::format_duration(65) == "1m05s");
}

TEST_CASE("progress ETA follows a moving average of the step time", "[train][progress]") {
  double now = 0.0;
  std::ostringstream out;
  train::ProgressReporter progress({.total_steps = 100, .min_interval_s = 0, .smoothing = 0.5, .out = &out,
                                    .clock = [&] { return now; }});
  now = 1.0;
  progress.update(0, 4);
  now = 4.0;  // 3 s for the second step: average (1 + 3)/2 = 2 s
  progress.update(1, 4);
  CHECK(progress.eta_seconds() == Approx(98 * 2.0));
  now = 10.0;  // updates may skip steps: 3 steps in 6 s -> 2 s/step
  progress.update(4, 4);
  CHECK(progress.eta_seconds() == Approx(95 * 2.0));
}

TEST_CASE("CSV log appends, keeps existing rows and checks the header", "[train][csv]") {
  const auto path = temp_path("metrics.csv");
  {
    train::CsvLogger log(path.string(), {"step", "loss", "lr"});
    log.row({0, 2.5, 0.1});
    log.row({{"lr", 0.1}, {"step", 1}, {"loss", 2.25}});
    CHECK(read_file(path) == "step,loss,lr\n0,2.5,0.1\n1,2.25,0.1\n");  // flushed per row
    CHECK_THROWS_AS(log.row({1.0, 2.0}), ConfigError);
    CHECK_THROWS_AS(log.row({{"step", 1}, {"loss", 2}}), ConfigError);
    CHECK_THROWS_AS(log.row({{"step", 1}, {"loss", 2}, {"lr", 1}, {"acc", 1}}), ConfigError);
  }
  {
    train::CsvLogger resumed(path.string(), {"step", "loss", "lr"});  // resume: no truncation
    resumed.row({2, 2.0, 0.01});
  }
  CHECK(read_file(path) == "step,loss,lr\n0,2.5,0.1\n1,2.25,0.1\n2,2,0.01\n");
  CHECK_THROWS_AS(train::CsvLogger(path.string(), {"step", "loss"}), ConfigError);
  CHECK(read_file(path) == "step,loss,lr\n0,2.5,0.1\n1,2.25,0.1\n2,2,0.01\n");  // untouched by the failure
  {
    std::ofstream(path, std::ios::app) << "3,1.9";  // a row cut by a crash
    train::CsvLogger log(path.string(), {"step", "loss", "lr"});
    log.row({3, 1.9, 0.01});
  }
  CHECK(read_file(path) == "step,loss,lr\n0,2.5,0.1\n1,2.25,0.1\n2,2,0.01\n3,1.9\n3,1.9,0.01\n");
  {
    train::CsvLogger fresh(path.string(), {"step", "acc"}, train::CsvMode::truncate);
    fresh.row({0, 0.5});
  }
  CHECK(read_file(path) == "step,acc\n0,0.5\n");
  CHECK_THROWS_AS(train::CsvLogger((path.parent_path() / "no/such/dir.csv").string(), {"a"}), IoError);
  CHECK_THROWS_AS(train::CsvLogger(path.string(), {"a,b"}), ConfigError);
}

TEST_CASE("check_finite throws NumericError naming the step", "[train][finite]") {
  CHECK_NOTHROW(train::check_finite(1.5, 3));
  try {
    train::check_finite(std::nan(""), 42, "loss_cls");
    FAIL("no exception");
  } catch (const NumericError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("loss_cls is NaN at step 42") != std::string::npos);
  }
  CHECK_THROWS_AS(train::check_finite(std::numeric_limits<double>::infinity(), 1), NumericError);
  CHECK_THROWS_AS(train::check_finite(-std::numeric_limits<double>::infinity(), 1), NumericError);
}
