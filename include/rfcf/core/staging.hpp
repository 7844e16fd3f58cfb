#pragma once
// UploadStage<T, D>: a reusable host buffer and its device tensor, for batches prepared on the
// host while the device works on the previous one:
//   T* h = stage.host(shape);   // waits until the stage's previous upload has left h
//   ... write the batch to h ...
//   stage.upload();             // queued (cuda: pinned memory, own copy stream)
//   auto x = stage.device();    // the current stream waits for the upload
//   ... queue work reading x ...
//   stage.done_reading();       // the next upload into x waits for that work
// cpu: the host buffer is the tensor itself and nothing is asynchronous. cuda:
// core/cuda/staging.cuh (pinned host memory, a private copy stream and events).
#include "rfcf/core/device.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf {

template <class T, class D>
class UploadStage;

template <class T>
class UploadStage<T, cpu> {
 public:
  T* host(const Shape& shape) {
    t_ = Tensor<T, cpu>(shape);  // fresh: a tensor handed out by device() is never overwritten
    return t_.data();
  }
  void upload() {}
  Tensor<T, cpu> device() const { return t_; }
  void done_reading() {}

 private:
  Tensor<T, cpu> t_;
};

}  // namespace rfcf
