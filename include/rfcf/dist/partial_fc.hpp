#pragma once
// dist::PartialFC<Policy, T, D>: the margin head with its class matrix sharded over the ranks of
// a Communicator, and optional class sampling (Partial FC, recognition.md 5).
//
// Per step (every rank calls forward/backward with its local batch of the same size B):
//   1. embeddings and labels are all-gathered into the global batch of N = W B samples;
//   2. labels outside this rank's class range become -1, the others local ids;
//   3. with sample_rate < 1, this rank keeps num_sample = int(rate * local classes) classes: all
//      positives of the global batch plus uniformly drawn negatives (only the positives if they
//      are more than num_sample), in ascending order;
//   4. cosines [N, S] of the normalised embeddings and sampled class vectors (one GEMM);
//   5. the target cosine of every row is all-reduced (its owner contributes it), so the margin
//      policy sees the same c_y, phi and t on every rank and applies unchanged;
//   6. distributed softmax cross-entropy: all-reduced row maxima and sums of exponentials; the
//      loss is the mean over the N rows (identical on every rank).
// backward() returns dL/d(local embeddings) multiplied by W: the all-gather's backward is a
// reduce-scatter, and the factor W undoes DataParallel's averaging of the backbone gradients, so
// backbone + DataParallel + PartialFC with rate 1 equals one process with MarginHead on the
// global batch. The weight gradient (rows of this rank) is NOT averaged: keep the head's
// parameters out of DataParallel.
//
// Optimiser semantics (the arcface_torch v2 choice): un-sampled rows get a zero gradient, and
// momentum and weight decay still move them. CurricularFace's t: TMode::local updates it from
// this rank's own B rows (per-rank t, the default); TMode::global from all N rows.
// The class vectors are initialised per class from (seed, class id), so the initial matrix does
// not depend on the number of ranks; gather_weight()/load_full_weight() move the whole matrix in
// and out (checkpoints written by rank 0, resumed on any number of ranks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/fill.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/functors.hpp"
#include "rfcf/dist/sharding.hpp"
#include "rfcf/nn/module.hpp"
#include "rfcf/ops/gemm.hpp"
#include "rfcf/recognition/margin_functors.hpp"
#include "rfcf/recognition/margin_head.hpp"
#include "rfcf/recognition/margin_loss.hpp"
#include "rfcf/recognition/margin_policies.hpp"

namespace rfcf::dist {

struct PartialFCOptions {
  double sample_rate = 1.0;  // fraction of each rank's classes used per step (1: plain model parallelism)
  uint64_t seed = 0;         // class-vector initialisation (per class)
  uint64_t sample_seed = 0;  // negative sampling (combined with the rank)
  recognition::HeadInit init = recognition::HeadInit::normal;
  double init_std = 0.01;
  recognition::TMode t_mode = recognition::TMode::local;
  double eps = 1e-12;  // as MarginHeadOptions::eps
};

template <class T>
struct PartialFCOutput {
  T loss;                   // mean cross-entropy over the global batch (same on every rank)
  double accuracy;          // argmax over the sampled classes of all ranks == label
  int64_t global_batch;     // N = W B
  int64_t sampled_classes;  // S on this rank
};

template <class Policy, class T, class D>
class PartialFC : public nn::LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  using policy_type = Policy;

  PartialFC(Communicator& comm, int64_t embedding_size, int64_t num_classes, Policy policy = Policy{},
            PartialFCOptions options = {})
      : comm_(&comm), options_(options), policy_(policy), classes_(num_classes),
        range_(class_range(num_classes, comm.rank(), comm.size())),
        weight_(Shape{range_.count, positive(embedding_size)}), t_(zeros<T, D>(Shape{1})),
        sampler_(options.sample_seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(comm.rank()) + 1) {
    detail::check_device<D>(comm, "PartialFC");
    check<ConfigError>(options.sample_rate > 0 && options.sample_rate <= 1, "PartialFC: sample_rate ",
                       options.sample_rate, " must lie in (0, 1]");
    check<ConfigError>(num_sample() >= 1, comm.where(), ": PartialFC: sample_rate ", options.sample_rate, " of ",
                       range_.count, " local classes samples none");
    initialise();
  }

  int64_t embedding_size() const { return weight_.value.dim(1); }
  int64_t num_classes() const { return classes_; }
  ClassRange class_range_of_rank() const { return range_; }
  // Classes sampled per step when the positives fit (int(rate * local classes)).
  int64_t num_sample() const {
    return options_.sample_rate >= 1.0 ? range_.count
                                       : static_cast<int64_t>(options_.sample_rate * static_cast<double>(range_.count));
  }

  PartialFCOutput<T> forward(const Tensor<T, D>& embeddings, const std::vector<int64_t>& labels) {
    check_rank(embeddings, 2, comm_->where() + ": PartialFC::forward (embeddings [B, d])");
    check<ShapeError>(embeddings.dim(1) == embedding_size(), comm_->where(), ": PartialFC::forward: embeddings ",
                      embeddings.shape().str(), " do not match the embedding size ", embedding_size());
    const int64_t B = embeddings.dim(0), d = embedding_size(), W = comm_->size();
    check<ShapeError>(static_cast<int64_t>(labels.size()) == B, comm_->where(), ": PartialFC::forward: ",
                      labels.size(), " labels for a batch of ", B);
    check_equal_batches(B);
    const int64_t N = W * B;
    const T eps = static_cast<T>(options_.eps);

    // 1-2. Global batch; labels -> local ids or -1.
    const Tensor<T, D> E = all_gather(*comm_, embeddings);
    const std::vector<int64_t> global_labels =
        all_gather(*comm_, Tensor<int64_t, D>::from_host(Shape{B}, labels)).to_vector();
    std::vector<int64_t> local(static_cast<size_t>(N));
    for (int64_t i = 0; i < N; ++i) {
      const int64_t y = global_labels[static_cast<size_t>(i)];
      check<ShapeError>(y >= 0 && y < classes_, comm_->where(), ": PartialFC::forward: label ", y, " of sample ",
                        i % B, " of rank ", i / B, " is outside [0, ", classes_, ")");
      local[static_cast<size_t>(i)] = range_.contains(y) ? y - range_.start : -1;
    }
    // 3. Sampling.
    sample(local);
    const int64_t S = static_cast<int64_t>(sampled_.size());
    labels_ = Tensor<int64_t, D>::from_host(Shape{N}, local);

    // 4. Cosines of the normalised vectors.
    e_hat_ = Tensor<T, D>(Shape{N, d});
    e_norm_ = Tensor<T, D>(Shape{N});
    Executor<D>::for_each(N, recognition::functors::RowL2Normalize<T>{E.data(), e_hat_.data(), e_norm_.data(), d, eps});
    Tensor<T, D> w = weight_.value;
    if (sampling()) {
      index_ = Tensor<int64_t, D>::from_host(Shape{S}, sampled_);
      w = Tensor<T, D>(Shape{S, d});
      Executor<D>::for_each(S * d, functors::GatherRows<T>{weight_.value.data(), index_.data(), w.data(), d});
    }
    w_hat_ = Tensor<T, D>(Shape{S, d});
    w_norm_ = Tensor<T, D>(Shape{S});
    Executor<D>::for_each(S, recognition::functors::RowL2Normalize<T>{w.data(), w_hat_.data(), w_norm_.data(), d, eps});
    raw_ = Tensor<T, D>(Shape{N, S});
    ops::Gemm<D>::run(false, true, N, S, d, T(1), e_hat_.data(), d, w_hat_.data(), d, T(0), raw_.data(), S);

    // 5. Target cosines from their owners; t.
    Tensor<T, D> c_y(Shape{N});
    Executor<D>::for_each(N, functors::OwnedTargetCosine<T>{raw_.data(), labels_.data(), c_y.data(), S});
    all_reduce(*comm_, c_y, ReduceOp::sum);
    if constexpr (Policy::uses_t) {
      if (is_training()) update_t(c_y.to_vector(), B);
    }
    const T t = Policy::uses_t ? t_.to_vector()[0] : T(0);
    logits_ = Tensor<T, D>(Shape{N, S});
    dfdc_ = Tensor<T, D>(Shape{N, S});
    Executor<D>::for_each(N * S, recognition::functors::MarginLogits<Policy, T>{
                                     policy_, raw_.data(), labels_.data(), c_y.data(), t, logits_.data(), dfdc_.data(), S});

    // 6. Distributed softmax cross-entropy.
    Tensor<T, D> maxima(Shape{2 * N});
    Executor<D>::for_each(N, functors::RowMaxima<T>{logits_.data(), raw_.data(), maxima.data(), N, S});
    all_reduce(*comm_, maxima, ReduceOp::max);
    Tensor<T, D> sums(Shape{2 * N});
    Executor<D>::for_each(N, functors::RowSumExp<T>{logits_.data(), maxima.data(), labels_.data(), sums.data(), N, S});
    all_reduce(*comm_, sums, ReduceOp::sum);
    const std::vector<T> mx = maxima.to_vector(), sm = sums.to_vector(), cy = c_y.to_vector();
    std::vector<T> lse(static_cast<size_t>(N));
    double loss = 0, hits = 0;
    for (int64_t i = 0; i < N; ++i) {
      const size_t k = static_cast<size_t>(i);
      lse[k] = mx[k] + std::log(sm[k]);
      loss += static_cast<double>(lse[k]) - static_cast<double>(sm[static_cast<size_t>(N) + k]);
      hits += cy[k] >= mx[static_cast<size_t>(N) + k] ? 1.0 : 0.0;
    }
    lse_ = Tensor<T, D>::from_host(Shape{N}, lse);
    has_cache_ = nn::grad_enabled();
    local_batch_ = B;
    return {static_cast<T>(loss / static_cast<double>(N)), hits / static_cast<double>(N), N, S};
  }

  // dL/d(local embeddings) x W (see the header comment); accumulates this rank's weight gradient.
  Tensor<T, D> backward(T dloss = T(1)) {
    check<Error>(has_cache_, comm_->where(), ": PartialFC::backward called without a forward in grad mode");
    const int64_t N = e_hat_.dim(0), S = w_hat_.dim(0), d = embedding_size(), W = comm_->size();
    const T eps = static_cast<T>(options_.eps);
    Tensor<T, D> g(Shape{N, S});
    const T scale = static_cast<T>(policy_.s * static_cast<double>(dloss) / static_cast<double>(N));
    Executor<D>::for_each(N * S, recognition::functors::MarginCrossEntropyGrad<T>{
                                     logits_.data(), lse_.data(), dfdc_.data(), labels_.data(), g.data(), S, scale});
    // Embeddings: every rank's partial dL/dE of the global batch, reduce-scattered to the owners.
    Tensor<T, D> d_ehat(Shape{N, d});
    ops::Gemm<D>::run(false, false, N, d, S, T(1), g.data(), S, w_hat_.data(), d, T(0), d_ehat.data(), d);
    Tensor<T, D> d_E(Shape{N, d});
    Executor<D>::for_each(N, recognition::functors::RowL2NormalizeBackward<T>{e_hat_.data(), d_ehat.data(),
                                                                             e_norm_.data(), d_E.data(), d, eps, false});
    if (W > 1) Executor<D>::for_each(N * d, functors::Scale<T>{d_E.data(), static_cast<T>(W)});
    Tensor<T, D> d_emb = reduce_scatter(*comm_, d_E, ReduceOp::sum);
    // Class vectors of this rank.
    if (!weight_.frozen) {
      Tensor<T, D> d_what(Shape{S, d});
      ops::Gemm<D>::run(true, false, S, d, N, T(1), g.data(), S, e_hat_.data(), d, T(0), d_what.data(), d);
      if (!sampling()) {
        Executor<D>::for_each(S, recognition::functors::RowL2NormalizeBackward<T>{
                                     w_hat_.data(), d_what.data(), w_norm_.data(), weight_.grad.data(), d, eps, true});
      } else {
        Tensor<T, D> d_w(Shape{S, d});
        Executor<D>::for_each(S, recognition::functors::RowL2NormalizeBackward<T>{
                                     w_hat_.data(), d_what.data(), w_norm_.data(), d_w.data(), d, eps, false});
        Executor<D>::for_each(S * d, functors::ScatterAddRows<T>{d_w.data(), index_.data(), weight_.grad.data(), d});
      }
    }
    return d_emb;
  }

  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(nn::join_name(prefix, "weight"), weight_);
    if constexpr (Policy::uses_t) v.buffer(nn::join_name(prefix, "t"), t_);
  }

  // This rank's rows [class_range().count, d] of the class matrix.
  nn::Parameter<T, D>& weight() { return weight_; }
  const Policy& policy() const { return policy_; }
  // Local ids (ascending) of the classes sampled in the last forward.
  const std::vector<int64_t>& sampled_classes() const { return sampled_; }
  double t_value() const { return static_cast<double>(t_.to_vector()[0]); }
  void set_t(double v) {
    const T x = static_cast<T>(v);
    DeviceCopy<D, cpu>::copy(t_.data(), &x, sizeof(T));
  }

  // The whole class matrix [C, d] on every rank (collective; e.g. for rank 0's checkpoint).
  Tensor<T, cpu> gather_weight() { return gather_rows(weight_.value); }
  // Any per-class state shaped like the local weight (a momentum buffer view), gathered the same way.
  Tensor<T, cpu> gather_rows(const Tensor<T, D>& local_rows) {
    check<ShapeError>(local_rows.shape() == weight_.value.shape(), comm_->where(), ": PartialFC::gather_rows: ",
                      local_rows.shape().str(), " is not shaped like the local weight ", weight_.value.shape().str());
    const int64_t W = comm_->size(), d = embedding_size(), rows = (classes_ + W - 1) / W;
    Tensor<T, D> padded = zeros<T, D>(Shape{rows, d});
    padded.slice_batch(0, range_.count).copy_from(local_rows);
    const Tensor<T, cpu> all = all_gather(*comm_, padded).template to<cpu>();
    Tensor<T, cpu> full(Shape{classes_, d});
    for (int r = 0; r < W; ++r) {
      const ClassRange cr = class_range(classes_, r, static_cast<int>(W));
      full.slice_batch(cr.start, cr.count).copy_from(all.slice_batch(r * rows, cr.count));
    }
    return full;
  }
  // Takes this rank's rows of a whole class matrix [C, d] (from any number of ranks' checkpoint).
  template <class D2>
  void load_full_weight(const Tensor<T, D2>& full) { load_full_rows(full, weight_.value); }
  template <class D2>
  void load_full_rows(const Tensor<T, D2>& full, Tensor<T, D>& local_rows) const {
    check<ShapeError>(full.shape() == Shape{classes_, embedding_size()}, comm_->where(),
                      ": PartialFC::load_full_weight: got ", full.shape().str(), ", expected (C, d) = [", classes_,
                      ", ", embedding_size(), "]");
    local_rows.copy_from(full.slice_batch(range_.start, range_.count));
  }

 private:
  static int64_t positive(int64_t n) {
    check<ConfigError>(n > 0, "PartialFC: embedding size must be positive, got ", n);
    return n;
  }
  bool sampling() const { return options_.sample_rate < 1.0; }

  void initialise() {
    const int64_t d = embedding_size();
    const double bound = std::sqrt(6.0 / static_cast<double>(classes_ + d));
    std::vector<T> v(static_cast<size_t>(range_.count * d));
    for (int64_t k = 0; k < range_.count; ++k) {
      Generator g(options_.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(range_.start + k));
      for (int64_t c = 0; c < d; ++c)
        v[static_cast<size_t>(k * d + c)] = static_cast<T>(options_.init == recognition::HeadInit::xavier_uniform
                                                               ? g.uniform(-bound, bound)
                                                               : g.normal(0.0, options_.init_std));
    }
    weight_.value.copy_from(Tensor<T, cpu>::from_host(weight_.value.shape(), v));
  }

  void check_equal_batches(int64_t B) {
    const std::vector<int64_t> sizes = all_gather(*comm_, Tensor<int64_t, D>::from_host(Shape{1}, &B)).to_vector();
    for (size_t r = 0; r < sizes.size(); ++r)
      check<ShapeError>(sizes[r] == B, comm_->where(), ": PartialFC::forward: local batch ", B,
                        " but rank ", r, " has ", sizes[r], " (every rank needs the same batch size)");
  }

  // recognition.md 5 step 3; remaps `local` to positions in the sampled list.
  void sample(std::vector<int64_t>& local) {
    const int64_t n = range_.count;
    if (!sampling()) {
      sampled_.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) sampled_[static_cast<size_t>(k)] = k;
      return;
    }
    std::vector<char> positive(static_cast<size_t>(n), 0);
    int64_t num_pos = 0;
    for (int64_t y : local)
      if (y >= 0 && !positive[static_cast<size_t>(y)]) positive[static_cast<size_t>(y)] = 1, ++num_pos;
    sampled_.clear();
    if (num_sample() <= num_pos) {
      for (int64_t k = 0; k < n; ++k)
        if (positive[static_cast<size_t>(k)]) sampled_.push_back(k);
    } else {
      std::vector<double> score(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) score[static_cast<size_t>(k)] = positive[static_cast<size_t>(k)] ? 2.0 : sampler_.uniform();
      std::vector<int64_t> order(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) order[static_cast<size_t>(k)] = k;
      std::nth_element(order.begin(), order.begin() + (num_sample() - 1), order.end(),
                       [&](int64_t a, int64_t b) { return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)]; });
      sampled_.assign(order.begin(), order.begin() + num_sample());
      std::sort(sampled_.begin(), sampled_.end());
    }
    std::vector<int64_t> position(static_cast<size_t>(n), -1);
    for (size_t s = 0; s < sampled_.size(); ++s) position[static_cast<size_t>(sampled_[s])] = static_cast<int64_t>(s);
    for (int64_t& y : local)
      if (y >= 0) y = position[static_cast<size_t>(y)];
  }

  void update_t(const std::vector<T>& c_y, int64_t B) {
    const bool global = options_.t_mode == recognition::TMode::global;
    const int64_t begin = global ? 0 : comm_->rank() * B, end = global ? static_cast<int64_t>(c_y.size()) : begin + B;
    double sum = 0;
    for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(c_y[static_cast<size_t>(i)]);
    const double old_t = static_cast<double>(t_.to_vector()[0]);
    set_t(policy_.updated_t(sum / static_cast<double>(end - begin), old_t));
  }

  Communicator* comm_;
  PartialFCOptions options_;
  Policy policy_;
  int64_t classes_;
  ClassRange range_;
  nn::Parameter<T, D> weight_;
  Tensor<T, D> t_;
  Generator sampler_;
  std::vector<int64_t> sampled_;
  bool has_cache_ = false;
  int64_t local_batch_ = 0;
  Tensor<T, D> e_hat_, e_norm_, w_hat_, w_norm_, raw_, logits_, dfdc_, lse_;
  Tensor<int64_t, D> labels_, index_;
};

}  // namespace rfcf::dist
