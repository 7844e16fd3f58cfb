#pragma once
// Per-thread cuBLAS and cuDNN handles (creating one costs milliseconds and they are not
// thread-safe), bound to the thread's current stream each time they are fetched.
#include <cublas_v2.h>
#include <cudnn.h>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/device.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/stream.cuh"

namespace rfcf::cuda_rt {

// Whether fp32 GEMMs and convolutions may use TF32 tensor cores (about 1e-3 relative error,
// several times faster). Off by default: results then match the CPU to fp32 rounding.
inline bool& tf32_flag() {
  static bool allowed = false;
  return allowed;
}
inline void allow_tf32(bool on) { tf32_flag() = on; }
inline bool tf32_allowed() { return tf32_flag(); }

namespace detail {
struct Handles {
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  Handles() = default;
  Handles(const Handles&) = delete;
  Handles& operator=(const Handles&) = delete;
  ~Handles() {  // thread exit; errors are ignored (the runtime may already be shutting down)
    if (cublas) cublasDestroy(cublas);
    if (cudnn) cudnnDestroy(cudnn);
  }
};
inline Handles& thread_handles() {
  thread_local Handles h;
  return h;
}

// During a graph capture cuBLAS must not allocate its own workspace (it would be per capture
// and outside rfcf's pools): the capture gives it a fixed one from the graph's pool, allocated
// at the first cuBLAS call of the capture. cublasSetStream resets the workspace, so it is set
// again each time the handle is fetched.
struct CublasCaptureWorkspace {
  bool active = false;
  void* ptr = nullptr;
  size_t bytes = 0;
};
inline CublasCaptureWorkspace& cublas_capture_workspace() {
  thread_local CublasCaptureWorkspace w;
  return w;
}
// cuBLAS's recommended workspace: 32 MiB on Hopper and newer, 4 MiB before.
inline size_t cublas_workspace_bytes() {
  int major = 0;
  RFCF_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, current_device()));
  return (major >= 9 ? size_t{32} : size_t{4}) << 20;
}
}  // namespace detail

inline cublasHandle_t cublas_handle() {
  auto& h = detail::thread_handles();
  if (!h.cublas) RFCF_CUBLAS_CHECK(cublasCreate(&h.cublas));
  RFCF_CUBLAS_CHECK(cublasSetStream(h.cublas, current_stream()));
  RFCF_CUBLAS_CHECK(cublasSetMathMode(h.cublas, tf32_allowed() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  auto& ws = detail::cublas_capture_workspace();
  if (ws.active) {
    if (!ws.ptr) {
      ws.bytes = detail::cublas_workspace_bytes();
      ws.ptr = Allocator<cuda>::allocate(ws.bytes);  // from the capture's pool
    }
    RFCF_CUBLAS_CHECK(cublasSetWorkspace(h.cublas, ws.ptr, ws.bytes));
  }
  return h.cublas;
}

inline cudnnHandle_t cudnn_handle() {
  auto& h = detail::thread_handles();
  if (!h.cudnn) RFCF_CUDNN_CHECK(cudnnCreate(&h.cudnn));
  RFCF_CUDNN_CHECK(cudnnSetStream(h.cudnn, current_stream()));
  return h.cudnn;
}

}  // namespace rfcf::cuda_rt
