#pragma once
// dist::DataParallel: PyTorch-DDP-style gradient averaging over a model's FlatParameters.
//
//   nn::FlatParameters<float, cpu> params(net);
//   dist::DataParallel<float, cpu> ddp(comm, params);
//   ddp.broadcast_model(net);              // once: rank 0's parameters, buffers and counters
//   loop: zero_grad; forward; backward; ddp.sync_gradients(); optimizer.step();
//
// The flat gradient buffer is cut into buckets of about `bucket_bytes`, in reverse parameter
// order (the order backward produces them). Each bucket is one non-blocking all-reduce; a caller
// that knows when parameters are final calls mark_ready(segment) during backward so that full
// buckets go out while backward continues; sync_gradients() launches whatever is left, waits and
// divides by the world size. overlap_backward() does the marking through the composites'
// backward hooks (nn/backward_hook.hpp):
//   { auto overlap = ddp.overlap_backward(); net.backward(dy); }   ddp.sync_gradients();
// The buckets and the reduction are the same either way, so the results are bit-identical. BatchNorm statistics are not touched:
// they stay per rank, as in DDP (only broadcast_model copies rank 0's at the start).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/functors.hpp"
#include "rfcf/nn/backward_hook.hpp"
#include "rfcf/nn/parameters.hpp"
#include "rfcf/recognition/margin_loss.hpp"

namespace rfcf::dist {

struct DataParallelOptions {
  int64_t bucket_bytes = 25 << 20;  // DDP's default bucket_cap_mb = 25
  bool average = true;              // divide the summed gradients by the world size
};

// A contiguous range of the flat gradient buffer covering whole parameter segments.
struct GradientBucket {
  int64_t begin = 0, end = 0;        // elements of the flat buffer
  std::vector<int64_t> segments;     // indices into FlatParameters::segments()
};

template <class T, class D>
class DataParallel {
 public:
  DataParallel(Communicator& comm, nn::FlatParameters<T, D>& params, DataParallelOptions o = {})
      : comm_(&comm), params_(&params), options_(o), observer_(this) {
    check<ConfigError>(o.bucket_bytes > 0, "DataParallel: bucket_bytes must be positive, got ", o.bucket_bytes);
    detail::check_device<D>(comm, "DataParallel");
    build_buckets();
  }
  DataParallel(const DataParallel&) = delete;  // the backward observer points here
  DataParallel& operator=(const DataParallel&) = delete;

  // Copies rank `root`'s flat parameter values to every rank.
  void broadcast_parameters(int root = 0) {
    if (params_->numel() > 0) broadcast(*comm_, params_->values(), root);
  }
  // Parameters, buffers (BatchNorm running statistics, CurricularFace t) and counters of `model`
  // from rank `root`, so that every rank starts from the same state (DDP does this at wrap time).
  template <class Model>
  void broadcast_model(Model& model, int root = 0) {
    broadcast_parameters(root);
    BroadcastVisitor v{comm_, root};
    model.visit(v, "");
  }

  // Marks a parameter segment's gradient as final (again: no effect); launches its bucket once
  // all of its segments are.
  void mark_ready(int64_t segment) {
    check<ConfigError>(segment >= 0 && segment < static_cast<int64_t>(bucket_of_.size()),
                       "DataParallel::mark_ready: segment ", segment, " out of range");
    if (segment_ready_[static_cast<size_t>(segment)]) return;
    segment_ready_[static_cast<size_t>(segment)] = 1;
    const int64_t b = bucket_of_[static_cast<size_t>(segment)];
    if (++ready_[static_cast<size_t>(b)] == static_cast<int64_t>(buckets_[static_cast<size_t>(b)].segments.size())) {
      launch(b);
      ++early_;
    }
  }
  // While the returned guard lives (around the backward of the step's last micro-batch, after
  // which nothing changes the gradients before sync_gradients()), every layer whose backward a
  // composite has finished marks its parameters ready, so buckets start during backward.
  [[nodiscard]] nn::BackwardObserverGuard overlap_backward() { return nn::BackwardObserverGuard(&observer_); }
  // Launches every bucket not launched yet (in bucket order).
  void start_gradient_sync() {
    for (int64_t b = 0; b < static_cast<int64_t>(buckets_.size()); ++b)
      if (!work_[static_cast<size_t>(b)]) launch(b);
  }
  // Waits for every bucket and averages. Resets the readiness for the next step.
  void finish_gradient_sync() {
    start_gradient_sync();
    for (auto& w : work_) {
      w->wait();
      w.reset();
    }
    std::fill(ready_.begin(), ready_.end(), 0);
    std::fill(segment_ready_.begin(), segment_ready_.end(), 0);
    launched_early_ = early_;
    early_ = 0;
    if (options_.average && comm_->size() > 1 && params_->numel() > 0)
      Executor<D>::for_each(params_->numel(),
                            functors::Scale<T>{params_->grads().data(), static_cast<T>(1.0 / comm_->size())});
  }
  void sync_gradients() { finish_gradient_sync(); }

  const std::vector<GradientBucket>& buckets() const { return buckets_; }
  // Buckets launched by mark_ready (during backward) in the last synchronised step.
  int64_t buckets_launched_early() const { return launched_early_; }
  Communicator& communicator() { return *comm_; }

 private:
  // Maps the gradient buffers of a finished layer to segments of the flat buffer.
  struct Observer final : nn::BackwardObserver {
    DataParallel* self;
    explicit Observer(DataParallel* s) : self(s) {}
    void gradients_final(const std::vector<const void*>& grads) override {
      const auto& segs = self->params_->segments();
      const T* base = self->params_->grads().data();
      for (const void* g : grads) {
        const T* p = static_cast<const T*>(g);
        if (p < base || p >= base + self->params_->numel()) continue;  // not this model's
        const int64_t offset = p - base;
        const auto it = std::lower_bound(segs.begin(), segs.end(), offset,
                                         [](const nn::ParameterSegment& s, int64_t o) { return s.offset < o; });
        if (it != segs.end() && it->offset == offset) self->mark_ready(it - segs.begin());
      }
    }
  };

  struct BroadcastVisitor {
    Communicator* comm;
    int root;
    template <class P>
    void parameter(const std::string&, P&) {}  // already in the flat buffer
    template <class U, class D2>
    void buffer(const std::string&, Tensor<U, D2>& t) {
      if (t.numel() > 0) broadcast(*comm, t, root);
    }
    void counter(const std::string&, int64_t& c) {
      std::vector<int64_t> v{comm->rank() == root ? c : 0};
      all_reduce_values<D>(*comm, v, ReduceOp::sum);
      c = v[0];
    }
  };

  void build_buckets() {
    const auto& segs = params_->segments();
    bucket_of_.assign(segs.size(), 0);
    const int64_t cap = std::max<int64_t>(1, options_.bucket_bytes / static_cast<int64_t>(sizeof(T)));
    const int64_t total = params_->numel();
    // Walk the segments from the last one; a bucket ends where the previous segment's range ends.
    for (int64_t i = static_cast<int64_t>(segs.size()) - 1; i >= 0; --i) {
      const int64_t begin = segs[static_cast<size_t>(i)].offset;
      const int64_t end = i + 1 < static_cast<int64_t>(segs.size()) ? segs[static_cast<size_t>(i) + 1].offset : total;
      if (buckets_.empty() || buckets_.back().end - buckets_.back().begin >= cap) buckets_.push_back({begin, end, {}});
      buckets_.back().begin = begin;
      buckets_.back().segments.push_back(i);
      bucket_of_[static_cast<size_t>(i)] = static_cast<int64_t>(buckets_.size()) - 1;
    }
    ready_.assign(buckets_.size(), 0);
    segment_ready_.assign(segs.size(), 0);
    work_.resize(buckets_.size());
  }
  void launch(int64_t b) {
    const GradientBucket& k = buckets_[static_cast<size_t>(b)];
    work_[static_cast<size_t>(b)] = comm_->all_reduce_async(params_->grads().data() + k.begin, k.end - k.begin,
                                                            data_type_of<T>(), ReduceOp::sum);
  }

  Communicator* comm_;
  nn::FlatParameters<T, D>* params_;
  DataParallelOptions options_;
  std::vector<GradientBucket> buckets_;
  std::vector<int64_t> bucket_of_, ready_;
  std::vector<char> segment_ready_;
  std::vector<std::unique_ptr<Work>> work_;
  Observer observer_;
  int64_t early_ = 0, launched_early_ = 0;
};

// TReducer for MarginHead / MarginLoss in TMode::global (recognition.md 2.5): sums the local sum
// and count of the target cosines over all ranks before the EMA of t.
template <class D>
recognition::TReducer t_reducer(Communicator& comm) {
  return [&comm](double& sum, double& count) {
    std::vector<double> v{sum, count};
    all_reduce_values<D>(comm, v, ReduceOp::sum);
    sum = v[0];
    count = v[1];
  };
}

}  // namespace rfcf::dist
