#pragma once
// Streams and events. Every rfcf launch, copy, cuBLAS and cuDNN call of a host thread goes to
// that thread's current stream (the legacy default stream until a StreamGuard sets another),
// so work issued by one thread is ordered without explicit synchronisation.
#include <cuda_runtime.h>

#include "rfcf/core/cuda/error.cuh"

namespace rfcf::cuda_rt {

namespace detail {
inline cudaStream_t& current_stream_slot() {
  thread_local cudaStream_t s = nullptr;  // nullptr: the legacy default stream
  return s;
}
}  // namespace detail

// The stream rfcf uses in this host thread.
inline cudaStream_t current_stream() { return detail::current_stream_slot(); }

// An owned, non-blocking stream (it does not synchronise with the legacy default stream).
class Stream {
 public:
  Stream() { RFCF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (stream_) cudaStreamDestroy(stream_);  // no throw from a destructor
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&& o) noexcept : stream_(o.stream_) { o.stream_ = nullptr; }
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      if (stream_) cudaStreamDestroy(stream_);
      stream_ = o.stream_;
      o.stream_ = nullptr;
    }
    return *this;
  }
  cudaStream_t get() const { return stream_; }
  void synchronize() const { RFCF_CUDA_CHECK(cudaStreamSynchronize(stream_)); }
  // True when all work queued so far has finished.
  bool query() const {
    const cudaError_t e = cudaStreamQuery(stream_);
    if (e == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    RFCF_CUDA_CHECK(e);
    return true;
  }

 private:
  cudaStream_t stream_ = nullptr;
};

// RAII: makes `s` the current stream of this thread until the guard ends.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t s) : previous_(detail::current_stream_slot()) { detail::current_stream_slot() = s; }
  explicit StreamGuard(const Stream& s) : StreamGuard(s.get()) {}
  ~StreamGuard() { detail::current_stream_slot() = previous_; }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t previous_;
};

// A CUDA event: record on a stream, make another stream wait on it, or time between two.
class Event {
 public:
  explicit Event(bool timing = false) {
    RFCF_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~Event() {
    if (event_) cudaEventDestroy(event_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(cudaStream_t s = current_stream()) { RFCF_CUDA_CHECK(cudaEventRecord(event_, s)); }
  // Work queued on `s` after this call waits for the recorded work.
  void wait(cudaStream_t s = current_stream()) const { RFCF_CUDA_CHECK(cudaStreamWaitEvent(s, event_, 0)); }
  void synchronize() const { RFCF_CUDA_CHECK(cudaEventSynchronize(event_)); }
  bool query() const {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaErrorNotReady) {
      (void)cudaGetLastError();
      return false;
    }
    RFCF_CUDA_CHECK(e);
    return true;
  }
  // Milliseconds from `start` to this event (both recorded with timing enabled).
  float elapsed_ms_since(const Event& start) const {
    float ms = 0;
    RFCF_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
    return ms;
  }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// True while `s` is being captured into a CUDA graph (the legacy default stream never is).
inline bool is_capturing(cudaStream_t s = current_stream()) {
  if (s == nullptr) return false;
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  RFCF_CUDA_CHECK(cudaStreamIsCapturing(s, &st));
  return st != cudaStreamCaptureStatusNone;
}

// Operations that wait for the device (host copies, scalar results) cannot be part of a graph:
// they throw this clear error instead of invalidating the capture with a cryptic one.
inline void check_not_capturing(const char* what) {
  if (is_capturing())
    fail<DeviceError>(what, " waits for the GPU and cannot run while the stream is captured into a CUDA graph ",
                      "(do host copies and scalar reductions before or after the captured work)");
}

// Waits for all work on the current stream.
inline void synchronize() { RFCF_CUDA_CHECK(cudaStreamSynchronize(current_stream())); }

}  // namespace rfcf::cuda_rt
