#pragma once
// Multi-threaded detection data loader: N worker threads decode + augment whole batches into a
// bounded, in-order prefetch window. Results do not depend on the number of threads or their
// timing: the epoch order is a shuffle seeded by (seed, epoch), and each sample's augmentation
// uses a Generator seeded by (seed, epoch, position in the epoch).
//
//   DetectionLoader loader(set.images, opts);
//   for (int64_t e = 0; e < epochs; ++e) {
//     loader.start_epoch(e);
//     while (auto batch = loader.next()) { ... batch->images [B,3,D,D], batch->targets[b] ... }
//   }
//
// Data-parallel sharding (DistributedSampler semantics): with shard(rank, world) every rank sees
// the same (seed, epoch) permutation, padded by wrapping to a multiple of `world`, and takes the
// positions rank, rank + world, ...; so all ranks have ceil(n / world) images per epoch and the
// same number of batches. Augmentation seeds use the global position, so the union over ranks
// equals the single-process stream position by position (world = 1 is the plain loader).
//
// An exception in a worker (decode error, bad annotation) stops the epoch and is rethrown by
// next() as rfcf::Error naming the image path. The destructor stops and joins the workers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/data/batch_pipeline.hpp"
#include "rfcf/data/detection_augment.hpp"
#include "rfcf/data/wider_labels.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::data {

struct DetectionBatch {
  Tensor<float, cpu> images;           // [B, 3, img_dim, img_dim]
  std::vector<FaceRows> targets;       // per image: n_i rows of 15 normalised values
  std::vector<std::string> paths;
};

struct DetectionLoaderOptions {
  int workers = 4;
  int64_t batch_size = 32;
  int64_t prefetch_batches = 4;  // batches decoded ahead of the consumer
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = false;  // the reference keeps the partial last batch
  int64_t shard_rank = 0;  // data-parallel shard (see shard())
  int64_t shard_count = 1;
  DetectionAugmentOptions augment{};
};

// Image decoder: path -> BGR uint8 image (replaceable, e.g. for tests or RecordIO).
using ImageDecoder = std::function<io::Image(const std::string&)>;
inline io::Image decode_bgr(const std::string& path) { return io::read_image(path, io::ColorOrder::BGR); }

class DetectionLoader {
 public:
  DetectionLoader(std::vector<AnnotatedImage> images, DetectionLoaderOptions o, ImageDecoder decode = decode_bgr)
      : images_(std::move(images)), o_(std::move(o)), decode_(std::move(decode)) {
    check<ConfigError>(o_.workers >= 1 && o_.batch_size >= 1 && o_.prefetch_batches >= 1,
                       "DetectionLoader: workers, batch_size and prefetch_batches must be >= 1 (got ", o_.workers, ", ",
                       o_.batch_size, ", ", o_.prefetch_batches, ")");
    check<ConfigError>(!images_.empty(), "DetectionLoader: no images");
    shard(o_.shard_rank, o_.shard_count);
    for (const auto& im : images_)
      check<ConfigError>(!im.faces.empty(), "DetectionLoader: image '", im.path, "' has no faces");
  }
  ~DetectionLoader() { stop(); }
  DetectionLoader(const DetectionLoader&) = delete;
  DetectionLoader& operator=(const DetectionLoader&) = delete;

  // This rank's share of the data set: rank in [0, world). Call before start_epoch (it stops an
  // epoch in flight).
  void shard(int64_t rank, int64_t world) {
    check<ConfigError>(world >= 1 && rank >= 0 && rank < world, "DetectionLoader::shard: need 0 <= rank < world, got rank ",
                       rank, ", world ", world);
    pipeline_.stop();  // an epoch in flight ends (start_epoch does the same)
    o_.shard_rank = rank;
    o_.shard_count = world;
  }
  int64_t shard_rank() const { return o_.shard_rank; }
  int64_t shard_count() const { return o_.shard_count; }
  // Images of the whole data set, and per epoch on this rank.
  int64_t dataset_size() const { return static_cast<int64_t>(images_.size()); }
  int64_t size() const { return (dataset_size() + o_.shard_count - 1) / o_.shard_count; }
  const DetectionLoaderOptions& options() const { return o_; }
  int64_t batches_per_epoch() const {
    const int64_t n = size(), b = o_.batch_size;
    return o_.drop_last ? n / b : (n + b - 1) / b;
  }

  // This rank's image order of an epoch: size() indices into the data set (with one shard, a
  // permutation of [0, size())).
  std::vector<int64_t> epoch_order(int64_t epoch) const {
    std::vector<int64_t> order(images_.size());
    std::iota(order.begin(), order.end(), int64_t{0});
    if (o_.shuffle) {
      Generator g(detail::mix64(o_.seed ^ detail::mix64(static_cast<uint64_t>(epoch) + 1)));
      for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) std::swap(order[i], order[g.integer(0, i)]);
    }
    if (o_.shard_count == 1) return order;
    std::vector<int64_t> mine;
    for (int64_t k = 0; k < size(); ++k)
      mine.push_back(order[static_cast<size_t>((k * o_.shard_count + o_.shard_rank) % dataset_size())]);
    return mine;
  }

  void start_epoch(int64_t epoch) {
    pipeline_.stop();
    epoch_ = epoch;
    order_ = epoch_order(epoch);
    images_done_ = 0;
    started_ = std::chrono::steady_clock::now();
    pipeline_.start(batches_per_epoch(), [this](int64_t b) {
      std::string path;
      try {
        return make_batch(b, path);
      } catch (const std::exception& e) {
        throw Error(std::string("DetectionLoader: ") + path + ": " + e.what());
      }
    });
  }

  // The next batch of the epoch in order, or nullopt at its end. Rethrows worker errors.
  std::optional<DetectionBatch> next() {
    check<Error>(pipeline_.started(), "DetectionLoader::next before start_epoch");
    return pipeline_.next();
  }

  // Images decoded + augmented per second since start_epoch.
  double images_per_second() const {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return s > 0 ? static_cast<double>(images_done_.load()) / s : 0.0;
  }

  void stop() { pipeline_.stop(); }

 private:
  DetectionBatch make_batch(int64_t b, std::string& path) {
    const int64_t begin = b * o_.batch_size;
    const int64_t count = std::min(o_.batch_size, size() - begin);
    const int64_t D = o_.augment.img_dim;
    DetectionBatch out{Tensor<float, cpu>(Shape{count, 3, D, D}), {}, {}};
    for (int64_t i = 0; i < count; ++i) {
      const AnnotatedImage& im = images_[static_cast<size_t>(order_[static_cast<size_t>(begin + i)])];
      path = im.path;
      FaceRows faces;
      for (const auto& f : im.faces) faces.insert(faces.end(), f.values, f.values + kFaceValues);
      const int64_t global_position = (begin + i) * o_.shard_count + o_.shard_rank;
      Generator g(detail::mix64(o_.seed ^ detail::mix64((static_cast<uint64_t>(epoch_) << 32) ^
                                                        static_cast<uint64_t>(global_position) ^ 0x5bd1e995ull)));
      const io::Image img = decode_(im.path);
      check<FormatError>(img.channels == 3, "decoded image has ", img.channels, " channels, need 3");
      AugmentedSample s = augment_detection(img, faces, g, o_.augment);
      std::copy_n(s.image.data(), s.image.numel(), out.images.data() + i * 3 * D * D);
      out.targets.push_back(std::move(s.faces));
      out.paths.push_back(im.path);
      ++images_done_;
    }
    return out;
  }

  std::vector<AnnotatedImage> images_;
  DetectionLoaderOptions o_;
  ImageDecoder decode_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0;
  std::atomic<int64_t> images_done_{0};
  std::chrono::steady_clock::time_point started_{};
  BatchPipeline<DetectionBatch> pipeline_{o_.workers, o_.prefetch_batches};  // last: joined first
};

}  // namespace rfcf::data
