#pragma once
// RFCF_HD marks functors that run on the host and, under nvcc, on the device.
// The same body is executed by the CPU executor in tests and by CUDA kernels.
#if defined(__CUDACC__)
#define RFCF_HD __host__ __device__
#define RFCF_DEVICE_CODE 1
#else
#define RFCF_HD
#endif
