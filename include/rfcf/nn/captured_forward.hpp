#pragma once
// nn::CapturedForward<Net, D>: inference at one fixed input shape through a static input
// tensor, device-generic. On cuda (nn/cuda/captured_forward.cuh) the first replay() runs one
// eager warm-up forward, captures the next forward into a CUDA graph and from then on
// replays the graph (one launch instead of a few hundred); on the cpu replay() simply runs
// forward. Same API on both, so user code does not change with the device:
//
//   nn::CapturedForward<decltype(net)> fwd(net, Shape{1, 3, 480, 640});
//   fwd.input().copy_from(x_host);            // or: auto out = fwd.run(x);
//   auto out = fwd.replay();                  // Tensor or struct of tensors, as net.forward
//
// The outputs are STATIC on cuda: the next replay() overwrites them (clone() what must stay).
// The net must outlive the CapturedForward, be in eval mode and keep its weights in place
// (the graph reads them by address); forward runs under NoGradGuard. Forward must not wait
// for the host (no host copies or scalar reductions): such a forward throws DeviceError.
#include <algorithm>
#include <cstddef>
#include <list>
#include <memory>
#include <type_traits>
#include <utility>

#include "rfcf/core/device.hpp"
#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

// What Net::forward(const Tensor<T, D>&) returns: a Tensor or a struct of tensors.
template <class Net>
using forward_output_t = std::decay_t<decltype(std::declval<Net&>().forward(
    std::declval<const Tensor<typename Net::value_type, typename Net::device_type>&>()))>;

inline void check_input_shape(const Shape& given, const Shape& captured) {
  check<ShapeError>(given == captured, "CapturedForward::run: input ", given.str(),
                    " does not match the fixed input shape ", captured.str());
}

template <class Net, class D = typename Net::device_type>
class CapturedForward;

// cpu: replay() is forward(input()).
template <class Net>
class CapturedForward<Net, cpu> {
 public:
  using value_type = typename Net::value_type;
  using tensor_type = Tensor<value_type, cpu>;
  using output_type = forward_output_t<Net>;

  CapturedForward(Net& net, const Shape& input_shape) : net_(net), input_(input_shape) {}

  const Shape& input_shape() const { return input_.shape(); }
  // The static input: write the next batch here, then replay().
  tensor_type& input() { return input_; }
  output_type replay() {
    NoGradGuard no_grad;
    return net_.forward(input_);
  }
  // Copies x (the captured shape, else ShapeError) into input() and replays.
  output_type run(const tensor_type& x) {
    check_input_shape(x.shape(), input_.shape());
    input_.copy_from(x);
    return replay();
  }
  // Always false on the cpu (there is nothing to capture).
  bool captured() const { return false; }

 private:
  Net& net_;
  tensor_type input_;
};

// A small least-recently-used set of CapturedForwards of one net, one per input shape (each
// CUDA graph keeps its activations, so only a few shapes are kept).
template <class Net, class D = typename Net::device_type>
class CapturedForwardCache {
 public:
  using entry_type = CapturedForward<Net, D>;

  CapturedForwardCache(Net& net, size_t capacity) : net_(net), capacity_(std::max<size_t>(capacity, 1)) {}

  // The CapturedForward of this shape, created (and the oldest one dropped) if needed.
  entry_type& get(const Shape& shape) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e->input_shape() == shape; });
    if (it != entries_.end()) {
      entries_.splice(entries_.begin(), entries_, it);
      return *entries_.front();
    }
    if (entries_.size() >= capacity_) {  // an evicted shape counts as seen: it comes back captured
      remember(entries_.back()->input_shape());
      entries_.pop_back();
    }
    entries_.push_front(std::make_unique<entry_type>(net_, shape));
    return *entries_.front();
  }
  // Like get(), but only for a shape asked for before: a first sighting returns nullptr (run
  // eagerly) and is remembered. Capturing costs a warm-up forward plus the capture, which pays
  // off only for shapes that repeat (not for a stream of images of all sizes).
  entry_type* get_if_repeated(const Shape& shape) {
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const auto& e) { return e->input_shape() == shape; });
    if (it != entries_.end()) return &get(shape);
    auto seen = std::find(seen_.begin(), seen_.end(), shape);
    if (seen != seen_.end()) {
      seen_.erase(seen);
      return &get(shape);
    }
    remember(shape);
    return nullptr;
  }
  size_t size() const { return entries_.size(); }
  void clear() {
    entries_.clear();
    seen_.clear();
  }

 private:
  void remember(const Shape& shape) {
    seen_.push_front(shape);
    if (seen_.size() > 4 * capacity_) seen_.pop_back();
  }

  Net& net_;
  size_t capacity_;
  std::list<std::unique_ptr<entry_type>> entries_;
  std::list<Shape> seen_;  // shapes met once, most recent first
};

}  // namespace rfcf::nn
