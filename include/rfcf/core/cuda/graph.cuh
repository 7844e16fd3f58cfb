#pragma once
// cuda_rt::Graph: one CUDA graph captured from rfcf work on a stream, replayed with one launch.
//
//   cuda_rt::Stream side;                  // capture needs a stream other than the legacy default
//   cuda_rt::Graph g;
//   g.capture(side.get(), [&] { y = net.forward(x); });   // records, runs nothing
//   g.launch();                            // on the current stream: fills y from x's contents
//
// During capture (thread-local mode), this thread's allocations come from the graph's private
// GraphPool (graph_pool.cuh) and cuBLAS gets a fixed workspace from it. Captured work must not
// wait for the host: run a warm-up first (cuDNN algorithm choice, first-use allocations) and
// keep host copies and scalar reductions out (they throw a DeviceError naming themselves).
#include <cuda_runtime.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "rfcf/core/cuda/allocator.cuh"
#include "rfcf/core/cuda/error.cuh"
#include "rfcf/core/cuda/graph_pool.cuh"
#include "rfcf/core/cuda/handles.cuh"
#include "rfcf/core/cuda/stream.cuh"

namespace rfcf::cuda_rt {

class Graph {
 public:
  Graph() = default;
  ~Graph() { reset(); }
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&& o) noexcept { take(o); }
  Graph& operator=(Graph&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }

  // Records the device work `work()` issues on `stream` (made the current stream meanwhile)
  // and instantiates it. Replaces a previous graph. On an exception the capture is abandoned,
  // nothing is kept, and the error is rethrown (CUDA's with a hint).
  template <class F>
  void capture(cudaStream_t stream, F&& work) {
    check<ConfigError>(stream != nullptr, "cuda_rt::Graph::capture: the legacy default stream cannot be captured; ",
                       "pass a cuda_rt::Stream");
    check<ConfigError>(!is_capturing(stream), "cuda_rt::Graph::capture: the stream is already being captured");
    auto& ws = detail::cublas_capture_workspace();
    check<ConfigError>(!ws.active, "cuda_rt::Graph::capture: nested captures on one thread are not supported");
    reset();
    auto pool = std::make_shared<GraphPool>();
    cudaGraph_t graph = nullptr;
    std::exception_ptr error;
    cudaError_t end = cudaSuccess;
    {
      StreamGuard on(stream);
      CapturePoolGuard route(pool.get());
      ws = detail::CublasCaptureWorkspace{true, nullptr, 0};
      const cudaError_t begin = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
      if (begin != cudaSuccess) {
        ws = detail::CublasCaptureWorkspace{};
        RFCF_CUDA_CHECK(begin);
      }
      try {
        work();
      } catch (...) {
        error = std::current_exception();
      }
      end = cudaStreamEndCapture(stream, &graph);
      if (end != cudaSuccess) (void)cudaGetLastError();
      workspace_ = ws.ptr;  // cuBLAS's workspace lives as long as the graph
      workspace_bytes_ = ws.bytes;
      ws = detail::CublasCaptureWorkspace{};
    }
    pool_ = std::move(pool);
    if (error || end != cudaSuccess) {
      if (graph) cudaGraphDestroy(graph);
      reset();
      if (error) std::rethrow_exception(error);
      fail<DeviceError>("cuda_rt::Graph::capture: capture failed (", cudaGetErrorString(end),
                        "): the captured work synchronised with the host or used another stream without events");
    }
    const cudaError_t inst = cudaGraphInstantiate(&exec_, graph, 0);
    cudaGraphDestroy(graph);
    if (inst != cudaSuccess) {
      exec_ = nullptr;
      reset();
      RFCF_CUDA_CHECK(inst);
    }
  }

  // Replays the captured work on `stream` (default: the current stream), after the work queued there.
  void launch(cudaStream_t stream = current_stream()) const {
    check<Error>(exec_ != nullptr, "cuda_rt::Graph::launch: nothing captured");
    RFCF_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
  }

  bool captured() const { return exec_ != nullptr; }
  // The graph's private memory (nullptr before a capture).
  const std::shared_ptr<GraphPool>& pool() const { return pool_; }

  // Destroys the graph; its pool lives on while tensors allocated in it do.
  void reset() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
    if (workspace_) Allocator<cuda>::deallocate(workspace_, workspace_bytes_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    pool_.reset();
  }

 private:
  void take(Graph& o) {
    exec_ = std::exchange(o.exec_, nullptr);
    pool_ = std::move(o.pool_);
    workspace_ = std::exchange(o.workspace_, nullptr);
    workspace_bytes_ = std::exchange(o.workspace_bytes_, 0);
  }

  cudaGraphExec_t exec_ = nullptr;
  std::shared_ptr<GraphPool> pool_;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
};

}  // namespace rfcf::cuda_rt
