#pragma once
// CapturedForward<Net, cuda>: warm-up forward, then one CUDA graph per instance (see
// nn/captured_forward.hpp for the contract). The warm-up runs on a private stream after the
// work queued on the caller's stream (cuDNN algorithm choice and first-use allocations happen
// there, outside the capture); the graph is captured on that stream and launched on the
// caller's current stream, so it is ordered after whatever filled input().
#include <optional>

#include "rfcf/core/cuda/graph.cuh"
#include "rfcf/core/cuda/stream.cuh"
#include "rfcf/nn/captured_forward.hpp"

namespace rfcf::nn {

template <class Net>
class CapturedForward<Net, cuda> {
 public:
  using value_type = typename Net::value_type;
  using tensor_type = Tensor<value_type, cuda>;
  using output_type = forward_output_t<Net>;

  CapturedForward(Net& net, const Shape& input_shape) : net_(net), input_(input_shape) {}
  CapturedForward(const CapturedForward&) = delete;
  CapturedForward& operator=(const CapturedForward&) = delete;

  const Shape& input_shape() const { return input_.shape(); }
  tensor_type& input() { return input_; }

  // Forward of input() (the first call captures). The result's tensors are the graph's static
  // outputs: valid until the next replay.
  output_type replay() {
    if (!graph_.captured()) capture();
    graph_.launch();
    return *outputs_;
  }
  output_type run(const tensor_type& x) {
    check_input_shape(x.shape(), input_.shape());
    input_.copy_from(x);  // queued on the current stream, before the launch
    return replay();
  }
  bool captured() const { return graph_.captured(); }
  // The graph's memory pool (nullptr before the first replay).
  const std::shared_ptr<cuda_rt::GraphPool>& pool() const { return graph_.pool(); }

 private:
  void capture() {
    NoGradGuard no_grad;
    cuda_rt::Event filled;
    filled.record();  // input() was written on the caller's stream
    filled.wait(side_.get());
    {
      cuda_rt::StreamGuard on(side_);
      (void)net_.forward(input_);  // warm-up: algorithm search, handles, lazy kernel loading
    }
    // Its temporaries went back to the (stream-unaware) pool: let the warm-up finish first.
    side_.synchronize();
    outputs_.reset();
    graph_.capture(side_.get(), [&] { outputs_.emplace(net_.forward(input_)); });
  }

  Net& net_;
  tensor_type input_;
  cuda_rt::Stream side_;
  std::optional<output_type> outputs_;  // before graph_: freed after the graph is destroyed
  cuda_rt::Graph graph_;
};

}  // namespace rfcf::nn
