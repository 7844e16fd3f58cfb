#pragma once
// UploadStage<T, cuda> (contract in core/staging.hpp): the host side is pinned memory, so the
// copy is truly asynchronous; it runs on the stage's own stream, which lets the upload of one
// batch overlap the kernels of another. The device buffer grows to the largest batch and is
// reused; device() views its first shape.numel() elements.
#include <cuda_runtime.h>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/pinned.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/core/staging.hpp"

namespace rfcf {

template <class T>
class UploadStage<T, cuda> {
 public:
  UploadStage() = default;
  UploadStage(const UploadStage&) = delete;
  UploadStage& operator=(const UploadStage&) = delete;
  ~UploadStage() {
    // Queued copies read the pinned buffer and write the device buffer: let them finish.
    if (cudaStreamSynchronize(copy_.get()) != cudaSuccess) (void)cudaGetLastError();
  }

  T* host(const Shape& shape) {
    uploaded_.synchronize();  // the previous upload has read the pinned buffer
    const size_t n = static_cast<size_t>(shape.numel());
    if (pinned_.size() < n) pinned_ = cuda_rt::PinnedBuffer<T>(n);
    shape_ = shape;
    return pinned_.data();
  }

  void upload() {
    const int64_t n = shape_.numel();
    if (!buffer_.defined() || buffer_.numel() < n) {
      consumed_.synchronize();  // the old buffer's last reader is done before it is freed
      buffer_ = Tensor<T, cuda>(Shape{n});
    }
    consumed_.wait(copy_.get());
    RFCF_CUDA_CHECK(cudaMemcpyAsync(buffer_.data(), pinned_.data(), static_cast<size_t>(n) * sizeof(T),
                                    cudaMemcpyHostToDevice, copy_.get()));
    uploaded_.record(copy_.get());
  }

  Tensor<T, cuda> device() const {
    uploaded_.wait(cuda_rt::current_stream());
    return buffer_.slice_batch(0, shape_.numel()).reshape(shape_);
  }

  void done_reading() { consumed_.record(cuda_rt::current_stream()); }

 private:
  Shape shape_;
  cuda_rt::PinnedBuffer<T> pinned_;
  Tensor<T, cuda> buffer_;
  cuda_rt::Stream copy_;
  cuda_rt::Event uploaded_, consumed_;
};

}  // namespace rfcf
