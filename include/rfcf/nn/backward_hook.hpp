#pragma once
// Backward hooks: the composites (Sequential, Residual, Concat, Repeat) report every child whose
// backward has finished to this thread's BackwardObserver, when one is installed, with the
// gradient buffers of that child's parameters. From then on those gradients are final for this
// backward pass (a layer's parameters belong to it alone), which lets dist::DataParallel start a
// bucket's all-reduce while backward goes on. Without an observer the cost is one thread-local
// load and a not-taken branch per child.
#include <string>
#include <vector>

#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

class BackwardObserver {
 public:
  virtual ~BackwardObserver() = default;
  // Data pointers of the gradients of a layer's parameters, after that layer's backward.
  virtual void gradients_final(const std::vector<const void*>& grads) = 0;
};

inline BackwardObserver*& backward_observer_slot() {
  thread_local BackwardObserver* observer = nullptr;
  return observer;
}

// RAII: installs `o` for this thread (around a backward pass), restores the previous one.
class BackwardObserverGuard {
 public:
  explicit BackwardObserverGuard(BackwardObserver* o) : previous_(backward_observer_slot()) { backward_observer_slot() = o; }
  ~BackwardObserverGuard() { backward_observer_slot() = previous_; }
  BackwardObserverGuard(const BackwardObserverGuard&) = delete;
  BackwardObserverGuard& operator=(const BackwardObserverGuard&) = delete;

 private:
  BackwardObserver* previous_;
};

// Called by the composites after a child's backward.
template <class L>
void backward_done(L& layer) {
  BackwardObserver* o = backward_observer_slot();
  if (o == nullptr) [[likely]] return;
  thread_local std::vector<const void*> grads;
  grads.clear();
  for_each_parameter(layer, [&](const std::string&, auto& p) { grads.push_back(p.grad.data()); });
  if (!grads.empty()) o->gradients_final(grads);
}

}  // namespace rfcf::nn
