#pragma once
// Error checks for the CUDA runtime, cuBLAS and cuDNN. A failed call throws rfcf::DeviceError
// naming the call, file:line and the library's own message; nothing is ever asserted away.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "rfcf/core/error.hpp"

namespace rfcf::cuda_detail {

[[noreturn]] inline void throw_device_error(const char* library, const char* call, const char* file, int line,
                                            const char* message, int code) {
  fail<DeviceError>(library, " error ", code, " (", message, ") in ", call, " at ", file, ":", line);
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e != cudaSuccess) throw_device_error("CUDA", call, file, line, cudaGetErrorString(e), static_cast<int>(e));
}
inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_device_error("cuBLAS", call, file, line, cublasGetStatusString(s), static_cast<int>(s));
}
inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) throw_device_error("cuDNN", call, file, line, cudnnGetErrorString(s), static_cast<int>(s));
}

}  // namespace rfcf::cuda_detail

#define RFCF_CUDA_CHECK(call) ::rfcf::cuda_detail::check_cuda((call), #call, __FILE__, __LINE__)
#define RFCF_CUBLAS_CHECK(call) ::rfcf::cuda_detail::check_cublas((call), #call, __FILE__, __LINE__)
#define RFCF_CUDNN_CHECK(call) ::rfcf::cuda_detail::check_cudnn((call), #call, __FILE__, __LINE__)
