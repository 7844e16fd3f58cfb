#pragma once
// A size-binned cache of freed blocks, shared by the cpu and cuda allocators. Allocating
// a tensor per op is cheap once the pool is warm: no page faults (cpu) and no
// cudaMalloc synchronisation (cuda). Blocks are reused only for the same rounded size.
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace rfcf::detail {

// Rounds sizes so that similar requests share bins: 512-byte steps below 1 MiB,
// 2 MiB steps above (activations of one network at one input size repeat exactly).
inline size_t round_block_size(size_t bytes) {
  constexpr size_t kSmallStep = 512, kLarge = size_t{1} << 20, kLargeStep = size_t{2} << 20;
  if (bytes == 0) return kSmallStep;
  if (bytes < kLarge) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

struct PoolStats {
  size_t allocated_bytes = 0;  // handed out and not yet returned
  size_t cached_bytes = 0;     // free blocks kept for reuse
  size_t peak_bytes = 0;
  size_t raw_allocations = 0;  // calls to the underlying allocator
};

// RawAlloc must provide static void* allocate(size_t) and static void release(void*).
template <class RawAlloc>
class CachingPool {
 public:
  explicit CachingPool(size_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;
  ~CachingPool() { release_all(); }

  void* allocate(size_t bytes) {
    const size_t size = round_block_size(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        stats_.cached_bytes -= size;
        note_allocated(size);
        return p;
      }
    }
    void* p = RawAlloc::allocate(size);
    if (p == nullptr) {  // out of memory: drop the cache and retry once
      release_all();
      p = RawAlloc::allocate(size);
    }
    if (p == nullptr) RawAlloc::out_of_memory(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.raw_allocations;
    note_allocated(size);
    return p;
  }

  void deallocate(void* p, size_t bytes) {
    if (p == nullptr) return;
    const size_t size = round_block_size(bytes);
    std::unique_lock<std::mutex> lock(mutex_);
    stats_.allocated_bytes -= size;
    if (stats_.cached_bytes + size > max_cached_) {
      lock.unlock();
      RawAlloc::release(p);
      return;
    }
    free_[size].push_back(p);
    stats_.cached_bytes += size;
  }

  // Returns every cached block to the underlying allocator.
  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) RawAlloc::release(p);
    free_.clear();
    stats_.cached_bytes = 0;
  }

  PoolStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  void note_allocated(size_t size) {
    stats_.allocated_bytes += size;
    if (stats_.allocated_bytes > stats_.peak_bytes) stats_.peak_bytes = stats_.allocated_bytes;
  }

  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  PoolStats stats_;
  size_t max_cached_;
};

}  // namespace rfcf::detail
