#pragma once
// Threaded loader for recognition training: decode -> window (crop) -> optional resize ->
// augmentation -> (x - mean) * scale, batched as [B, 3, H, W] float RGB planes with int64 labels.
// Worker threads and the bounded in-order prefetch window come from BatchPipeline.
//
// Determinism: the epoch order is a permutation seeded by (seed, epoch); each sample's augmentation
// uses a Generator seeded by (seed, epoch, position in that permutation). Neither depends on the
// number of threads, the batch size or the sharding.
//
// Sharding for data parallelism: shard(rank, world) makes rank r read positions r, r + world,
// r + 2 world, ... of every epoch's permutation, floor(N / world) samples per rank, so the ranks'
// parts are disjoint and equally long (the remainder of the epoch is dropped).
//
//   data::RecognitionLoader loader(std::move(dataset), opts);
//   loader.shard(rank, world);
//   loader.start_epoch(e);
//   while (auto b = loader.next()) { ... b->images, b->labels ... }
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/data/batch_pipeline.hpp"
#include "rfcf/data/pixel_functors.hpp"
#include "rfcf/data/recognition_augment.hpp"
#include "rfcf/data/recognition_dataset.hpp"
#include "rfcf/io/image_ops.hpp"
#include "rfcf/io/resize.hpp"

namespace rfcf::data {

struct RecognitionBatch {
  Tensor<float, cpu> images;     // [B, 3, H, W]
  std::vector<int64_t> labels;   // B class indices
  std::vector<int64_t> indices;  // B dataset indices
};

struct RecognitionLoaderOptions {
  int workers = 2;
  int64_t batch_size = 128;
  int64_t prefetch_batches = 4;
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = true;  // insightface and CurricularFace drop the partial last batch
  // Window [crop_x, crop_x + crop_w) x [crop_y, crop_y + crop_h) of every image (0: to the edge).
  // CASIA MobileFaceNet on 112x112 LFW-style crops: crop_w = 96 (columns 0..95).
  int crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;
  // Resize the window to this size (bilinear) before augmentation; 0: keep the window size.
  int resize_w = 0, resize_h = 0;
  // Per RGB channel: (x - mean) * scale. Default (x - 127.5) / 128 (CASIA MobileFaceNet);
  // insightface uses scale 1 / 127.5.
  std::array<float, 3> mean{127.5f, 127.5f, 127.5f};
  std::array<float, 3> scale{1.f / 128.f, 1.f / 128.f, 1.f / 128.f};
  RecognitionAugmentOptions augment{};
};

class RecognitionLoader {
 public:
  RecognitionLoader(RecognitionDataset dataset, RecognitionLoaderOptions o)
      : ds_(std::move(dataset)), o_(std::move(o)) {
    check<ConfigError>(o_.batch_size >= 1, "RecognitionLoader: batch_size must be >= 1, got ", o_.batch_size);
    check<ConfigError>(o_.crop_x >= 0 && o_.crop_y >= 0 && o_.crop_w >= 0 && o_.crop_h >= 0 && o_.resize_w >= 0 &&
                           o_.resize_h >= 0 && (o_.resize_w == 0) == (o_.resize_h == 0),
                       "RecognitionLoader: negative crop/resize, or only one of resize_w/resize_h set");
    o_.augment.validate();
    pipeline_ = std::make_unique<BatchPipeline<RecognitionBatch>>(o_.workers, o_.prefetch_batches);
    // The input size is fixed by the first image (all must share it).
    const io::Image first = ds_.load(0);
    src_w_ = first.width;
    src_h_ = first.height;
    window_w_ = o_.crop_w ? o_.crop_w : src_w_ - o_.crop_x;
    window_h_ = o_.crop_h ? o_.crop_h : src_h_ - o_.crop_y;
    check<ConfigError>(window_w_ > 0 && window_h_ > 0 && o_.crop_x + window_w_ <= src_w_ && o_.crop_y + window_h_ <= src_h_,
                       "RecognitionLoader: window x ", o_.crop_x, " y ", o_.crop_y, " w ", window_w_, " h ", window_h_,
                       " does not fit the ", src_w_, "x", src_h_, " images of ", ds_.source());
    check<ConfigError>(samples_per_epoch() >= (o_.drop_last ? o_.batch_size : 1), "RecognitionLoader: ",
                       samples_per_epoch(), " samples per epoch (rank ", rank_, " of ", world_, ") for batch size ",
                       o_.batch_size, " with drop_last");
  }
  ~RecognitionLoader() { stop(); }
  RecognitionLoader(const RecognitionLoader&) = delete;
  RecognitionLoader& operator=(const RecognitionLoader&) = delete;

  // Read only this rank's part of every epoch (see the header comment).
  void shard(int rank, int world_size) {
    check<ConfigError>(world_size >= 1 && rank >= 0 && rank < world_size, "RecognitionLoader::shard: rank ", rank,
                       " is not in [0, ", world_size, ")");
    check<ConfigError>(static_cast<int64_t>(ds_.size()) / world_size >= (o_.drop_last ? o_.batch_size : 1),
                       "RecognitionLoader::shard: ", ds_.size(), " samples over ", world_size, " ranks leave fewer than ",
                       "one batch of ", o_.batch_size, " per rank");
    stop();
    rank_ = rank;
    world_ = world_size;
  }
  int rank() const { return rank_; }
  int world_size() const { return world_; }

  const RecognitionDataset& dataset() const { return ds_; }
  const RecognitionLoaderOptions& options() const { return o_; }
  int64_t num_classes() const { return ds_.num_classes(); }
  // Network input size.
  int input_h() const { return o_.resize_h ? o_.resize_h : window_h_; }
  int input_w() const { return o_.resize_w ? o_.resize_w : window_w_; }

  // Samples this rank reads per epoch.
  int64_t samples_per_epoch() const { return static_cast<int64_t>(ds_.size()) / world_; }
  int64_t batches_per_epoch() const {
    const int64_t n = samples_per_epoch(), b = o_.batch_size;
    return o_.drop_last ? n / b : (n + b - 1) / b;
  }

  // The global sample order of an epoch (a permutation of the dataset, the same on every rank).
  std::vector<int64_t> epoch_order(int64_t epoch) const {
    std::vector<int64_t> order(ds_.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    if (o_.shuffle) {
      Generator g(detail::mix64(o_.seed ^ detail::mix64(static_cast<uint64_t>(epoch) + 0x7265636f67ull)));
      for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) std::swap(order[i], order[g.integer(0, i)]);
    }
    return order;
  }
  // Positions (in epoch_order) that this rank reads, in order.
  std::vector<int64_t> shard_positions() const {
    std::vector<int64_t> pos(static_cast<size_t>(samples_per_epoch()));
    for (size_t k = 0; k < pos.size(); ++k) pos[k] = rank_ + static_cast<int64_t>(k) * world_;
    return pos;
  }
  // Dataset indices this rank reads in an epoch, in order.
  std::vector<int64_t> shard_indices(int64_t epoch) const {
    const std::vector<int64_t> order = epoch_order(epoch);
    std::vector<int64_t> out;
    for (int64_t p : shard_positions()) out.push_back(order[static_cast<size_t>(p)]);
    return out;
  }

  // Starts delivering batches first_batch, first_batch + 1, ... of the epoch (first_batch > 0
  // resumes inside an epoch).
  void start_epoch(int64_t epoch, int64_t first_batch = 0) {
    check<ConfigError>(first_batch >= 0 && first_batch <= batches_per_epoch(), "RecognitionLoader::start_epoch: batch ",
                       first_batch, " is not in [0, ", batches_per_epoch(), "]");
    stop();
    epoch_ = epoch;
    order_ = epoch_order(epoch);
    positions_ = shard_positions();
    samples_done_ = 0;
    started_ = std::chrono::steady_clock::now();
    pipeline_->start(batches_per_epoch() - first_batch, [this, first_batch](int64_t b) { return make_batch(first_batch + b); });
  }

  // The next batch in order, or nullopt at the end of the epoch. Rethrows decode errors (naming the image).
  std::optional<RecognitionBatch> next() {
    check<Error>(pipeline_->started(), "RecognitionLoader::next before start_epoch");
    return pipeline_->next();
  }
  void stop() {
    if (pipeline_) pipeline_->stop();
  }

  // Batch b of the epoch last started, built on the calling thread (what the workers run).
  RecognitionBatch make_batch(int64_t b) const {
    check<Error>(!positions_.empty(), "RecognitionLoader::make_batch before start_epoch");
    check<ConfigError>(b >= 0 && b < batches_per_epoch(), "RecognitionLoader::make_batch: batch ", b, " is not in [0, ",
                       batches_per_epoch(), ")");
    const int64_t begin = b * o_.batch_size;
    const int64_t count = std::min(o_.batch_size, samples_per_epoch() - begin);
    const int64_t H = input_h(), W = input_w(), plane = H * W;
    RecognitionBatch out{Tensor<float, cpu>(Shape{count, 3, H, W}), {}, {}};
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pos = positions_[static_cast<size_t>(begin + i)];
      const size_t idx = static_cast<size_t>(order_[static_cast<size_t>(pos)]);
      try {
        const io::Image img = prepare(idx, pos);
        functors::for_each_serial(plane, functors::NormalizeToPlanes{img.data(), out.images.data() + i * 3 * plane, plane,
                                                                     o_.mean[0], o_.mean[1], o_.mean[2], o_.scale[0],
                                                                     o_.scale[1], o_.scale[2]});
      } catch (const std::exception& e) {
        throw Error("RecognitionLoader: " + ds_.describe(idx) + ": " + e.what());
      }
      out.labels.push_back(ds_.label(idx));
      out.indices.push_back(static_cast<int64_t>(idx));
    }
    samples_done_ += count;
    return out;
  }

  // Samples per second delivered since start_epoch.
  double samples_per_second() const {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return s > 0 ? static_cast<double>(samples_done_.load()) / s : 0.0;
  }

 private:
  // Decoded, windowed, resized and augmented RGB image of dataset sample idx at epoch position pos.
  io::Image prepare(size_t idx, int64_t pos) const {
    io::Image img = ds_.load(idx);
    check<ShapeError>(img.width == src_w_ && img.height == src_h_, "image is ", img.width, "x", img.height,
                      ", the dataset's first image is ", src_w_, "x", src_h_);
    if (window_w_ != src_w_ || window_h_ != src_h_) img = io::crop(img, o_.crop_x, o_.crop_y, window_w_, window_h_);
    if (o_.resize_w) img = io::resize(img, o_.resize_w, o_.resize_h);
    Generator g(detail::mix64(o_.seed ^ detail::mix64((static_cast<uint64_t>(epoch_) << 32) ^ static_cast<uint64_t>(pos) ^
                                                      0x5bd1e995ull)));
    return augment_recognition(img, g, o_.augment);
  }

  RecognitionDataset ds_;
  RecognitionLoaderOptions o_;
  int src_w_ = 0, src_h_ = 0, window_w_ = 0, window_h_ = 0;
  int rank_ = 0, world_ = 1;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_, positions_;
  mutable std::atomic<int64_t> samples_done_{0};
  std::chrono::steady_clock::time_point started_{};
  std::unique_ptr<BatchPipeline<RecognitionBatch>> pipeline_;  // last: its workers stop first
};

}  // namespace rfcf::data
