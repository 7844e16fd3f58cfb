#pragma once
// The threading core of the data loaders (DetectionLoader, RecognitionLoader): N worker threads
// build batches 0 .. n-1 with a user function into a bounded, in-order prefetch window. A
// batch's content depends only on its index (the function must be deterministic in it), so
// results do not depend on the number of threads or their timing.
//
//   BatchPipeline<MyBatch> p(workers, prefetch);
//   p.start(num_batches, [&](int64_t b) { return make_batch(b); });
//   while (auto batch = p.next()) { ... }
//
// The first exception thrown by the function stops the pipeline and is rethrown by next().
// stop() (and the destructor) joins the workers.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::data {

namespace detail {
inline uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace detail

template <class Batch>
class BatchPipeline {
 public:
  using MakeBatch = std::function<Batch(int64_t)>;

  BatchPipeline(int workers, int64_t prefetch_batches) : workers_(workers), prefetch_(prefetch_batches) {
    check<ConfigError>(workers >= 1 && prefetch_batches >= 1, "BatchPipeline: workers and prefetch_batches must be >= 1 (got ",
                       workers, ", ", prefetch_batches, ")");
  }
  ~BatchPipeline() { stop(); }
  BatchPipeline(const BatchPipeline&) = delete;
  BatchPipeline& operator=(const BatchPipeline&) = delete;

  // Starts building batches [0, num_batches) (stops a previous run first).
  void start(int64_t num_batches, MakeBatch make) {
    stop();
    make_ = std::move(make);
    total_ = num_batches;
    next_take_ = next_deliver_ = 0;
    ready_.clear();
    error_ = nullptr;
    stopping_ = false;
    started_ = true;
    for (int i = 0; i < workers_; ++i) threads_.emplace_back([this] { work(); });
  }

  // The next batch in order, or nullopt after the last one. Rethrows a worker's exception.
  std::optional<Batch> next() {
    check<Error>(started_, "BatchPipeline::next before start");
    std::unique_lock<std::mutex> lock(mutex_);
    if (next_deliver_ >= total_) return std::nullopt;
    cv_.wait(lock, [&] { return error_ || ready_.count(next_deliver_); });
    if (error_) {
      std::exception_ptr e = error_;
      lock.unlock();
      stop();
      std::rethrow_exception(e);
    }
    Batch b = std::move(ready_.at(next_deliver_));
    ready_.erase(next_deliver_++);
    cv_.notify_all();
    return b;
  }

  bool started() const { return started_; }
  int64_t delivered() const { return next_deliver_; }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void work() {
    for (;;) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || error_ || next_take_ < next_deliver_ + prefetch_; });
        if (stopping_ || error_ || next_take_ >= total_) return;
        b = next_take_++;
      }
      try {
        Batch batch = make_(b);
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.emplace(b, std::move(batch));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      cv_.notify_all();
    }
  }

  int workers_;
  int64_t prefetch_;
  MakeBatch make_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  int64_t total_ = 0, next_take_ = 0, next_deliver_ = 0;
  bool stopping_ = false, started_ = false;
  std::exception_ptr error_;
};

}  // namespace rfcf::data
