#pragma once
// Graph-private device memory (like PyTorch's graph memory pools). While a thread captures a
// CUDA graph, Allocator<cuda> serves that thread's allocations from the capture's GraphPool:
// the graph bakes these addresses into its kernels, so the blocks must never reach another
// tensor while the graph lives. A GraphPool reuses a freed block only for later allocations of
// the same capture, keeps every block until the pool dies, and also keeps general-pool blocks
// that the capturing thread frees during the capture (the graph may still read them on replay).
//
// Ownership: the pool is shared by its graph and by every block it has handed out, so static
// outputs that outlive the graph stay valid; the raw memory goes back to the driver when the
// last of them is gone.
#include <cuda_runtime.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rfcf/core/caching_pool.hpp"
#include "rfcf/core/cuda/error.cuh"

namespace rfcf::cuda_rt {

class GraphPool;

namespace detail {
// Returns a general-pool block to Allocator<cuda> (defined in allocator.cuh).
inline void release_to_general_pool(void* p, size_t bytes);

// Raw allocations made by all graph pools so far (tests check that replays make none).
inline std::atomic<size_t>& graph_pool_raw_allocations() {
  static std::atomic<size_t> n{0};
  return n;
}
inline std::atomic<int>& live_graph_pools() {
  static std::atomic<int> n{0};
  return n;
}
// Blocks handed out by graph pools and not yet freed, with their owner.
struct GraphBlockRegistry {
  std::mutex mutex;
  std::unordered_map<void*, std::shared_ptr<GraphPool>> owner;
};
inline GraphBlockRegistry& graph_blocks() {
  static auto* r = new GraphBlockRegistry;  // never destroyed: tensors may be freed at exit
  return *r;
}
// The pool of the capture running on this thread (nullptr when none).
inline GraphPool*& capture_pool_slot() {
  thread_local GraphPool* p = nullptr;
  return p;
}
}  // namespace detail

class GraphPool : public std::enable_shared_from_this<GraphPool> {
 public:
  GraphPool() { ++detail::live_graph_pools(); }
  ~GraphPool() {
    for (void* p : owned_)
      if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
    for (auto [p, bytes] : adopted_) detail::release_to_general_pool(p, bytes);
    --detail::live_graph_pools();
  }
  GraphPool(const GraphPool&) = delete;
  GraphPool& operator=(const GraphPool&) = delete;

  // A block of at least `bytes`: a freed one of the same rounded size, else a new cudaMalloc
  // (in relaxed capture mode: cudaMalloc is not a stream operation, the graph only records
  // the address).
  void* allocate(size_t bytes) {
    const size_t size = rfcf::detail::round_block_size(bytes);
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
      }
    }
    if (!p) {
      cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
      RFCF_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&mode));
      const cudaError_t e = cudaMalloc(&p, size);
      cudaThreadExchangeStreamCaptureMode(&mode);
      if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        fail<DeviceError>("rfcf: out of GPU memory allocating ", bytes, " bytes for a CUDA graph's pool (",
                          cudaGetErrorString(e), "; ", free_b >> 20, " MiB free of ", total_b >> 20, " MiB)");
      }
      ++detail::graph_pool_raw_allocations();
      std::lock_guard<std::mutex> lock(mutex_);
      owned_.push_back(p);
      reserved_ += size;
    }
    auto& reg = detail::graph_blocks();
    std::lock_guard<std::mutex> lock(reg.mutex);
    reg.owner[p] = shared_from_this();
    return p;
  }

  // Size of all blocks this pool has taken from the driver.
  size_t reserved_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return reserved_;
  }
  size_t raw_allocations() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return owned_.size();
  }

  // If p came from a graph pool, returns it there and says true. The owner may die here (its
  // last block came back after its graph was destroyed).
  static bool give_back(void* p, size_t bytes) {
    if (detail::live_graph_pools().load() == 0) return false;
    std::shared_ptr<GraphPool> owner;
    {
      auto& reg = detail::graph_blocks();
      std::lock_guard<std::mutex> lock(reg.mutex);
      auto it = reg.owner.find(p);
      if (it == reg.owner.end()) return false;
      owner = std::move(it->second);
      reg.owner.erase(it);
    }
    owner->put_free(p, bytes);
    return true;  // `owner` released here, outside the registry lock
  }

  // A general-pool block freed by the capturing thread: kept until this pool dies.
  void adopt(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    adopted_.emplace_back(p, bytes);
  }

 private:
  void put_free(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[rfcf::detail::round_block_size(bytes)].push_back(p);
  }

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::vector<void*> owned_;
  std::vector<std::pair<void*, size_t>> adopted_;
  size_t reserved_ = 0;
};

// RAII: routes this thread's device allocations to `pool` (used by Graph::capture).
class CapturePoolGuard {
 public:
  explicit CapturePoolGuard(GraphPool* pool) : previous_(detail::capture_pool_slot()) {
    detail::capture_pool_slot() = pool;
  }
  ~CapturePoolGuard() { detail::capture_pool_slot() = previous_; }
  CapturePoolGuard(const CapturePoolGuard&) = delete;
  CapturePoolGuard& operator=(const CapturePoolGuard&) = delete;

 private:
  GraphPool* previous_;
};

// The pool this thread's allocations go to now (nullptr outside a capture).
inline GraphPool* active_capture_pool() { return detail::capture_pool_slot(); }

// cudaMalloc calls made by graph pools so far, all pools together.
inline size_t graph_pool_raw_allocations() { return detail::graph_pool_raw_allocations().load(); }

}  // namespace rfcf::cuda_rt
