// The optimizer and gradient functors of rfcf/train run as CUDA kernels: train::SGD,
// train::AdamW and clip_grad_norm on cuda tensors match the same code on the cpu
// (whose results are checked against PyTorch in tests/train).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "cuda/compare.hpp"
#include "rfcf/cuda.cuh"
#include "rfcf/train/adamw.hpp"
#include "rfcf/train/gradients.hpp"
#include "rfcf/train/sgd.hpp"

using namespace rfcf;

namespace {

const Shape kShapes[3] = {Shape{37, 5}, Shape{3}, Shape{2, 33}};

// Three parameters (no decay on p1, p2 frozen) with seeded values.
template <class T, class D>
struct Params {
  using value_type = T;
  using device_type = D;
  nn::Parameter<T, D> p[3];
  Params() {
    for (int i = 0; i < 3; ++i) {
      auto v = rfcf::test::random_vector<T>(static_cast<size_t>(kShapes[i].numel()), 10 + i);
      p[i].value = Tensor<T, D>::from_host(kShapes[i], v);
      p[i].grad = Tensor<T, D>::from_host(kShapes[i], std::vector<T>(v.size(), T(0)));
    }
    p[1].weight_decay = false;
    p[2].frozen = true;
  }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    for (int i = 0; i < 3; ++i) v.parameter(nn::join_name(prefix, "p" + std::to_string(i)), p[i]);
  }
};

template <class T, class D>
void set_grads(nn::FlatParameters<T, D>& flat, int step) {
  auto g = rfcf::test::random_vector<T>(static_cast<size_t>(flat.numel()), 100 + step, -2, 2);
  flat.grads().copy_from(Tensor<T, cpu>::from_host(Shape{flat.numel()}, g));
}

template <class T, template <class, class> class Opt, class Options>
void compare_optimizer(Options o, double tol) {
  Params<T, cpu> host;
  Params<T, cuda> dev;
  nn::FlatParameters<T, cpu> hflat(host);
  nn::FlatParameters<T, cuda> dflat(dev);
  Opt<T, cpu> hopt(hflat, o);
  Opt<T, cuda> dopt(dflat, o);
  for (int step = 0; step < 6; ++step) {
    set_grads(hflat, step);
    set_grads(dflat, step);
    hopt.set_lr(0.05 * (step + 1));
    dopt.set_lr(0.05 * (step + 1));
    hopt.step();
    dopt.step();
  }
  for (int i = 0; i < 3; ++i) {
    INFO("p" << i);
    CHECK(rfcf::test::relative_error(dev.p[i].value.to_vector(), host.p[i].value.to_vector()) < tol);
  }
  CHECK(dev.p[2].value.to_vector() == Params<T, cpu>().p[2].value.to_vector());  // frozen
}

template <class T>
void compare_clip(double tol) {
  Params<T, cpu> host;
  Params<T, cuda> dev;
  nn::FlatParameters<T, cpu> hflat(host);
  nn::FlatParameters<T, cuda> dflat(dev);
  set_grads(hflat, 0);
  set_grads(dflat, 0);
  const double hn = train::clip_grad_norm(hflat, 0.5);
  const double dn = train::clip_grad_norm(dflat, 0.5);
  CHECK(dn == Approx(hn).epsilon(1e-12));
  CHECK(rfcf::test::relative_error(dflat.grads().to_vector(), hflat.grads().to_vector()) < tol);
}

}  // namespace

TEST_CASE("train: SGD, AdamW and clip_grad_norm on cuda match the cpu", "[cuda][train]") {
  const train::SGDOptions sgd{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2, .nesterov = true};
  const train::AdamWOptions adamw{.lr = 0.01, .weight_decay = 0.1};
  compare_optimizer<double, train::SGD>(sgd, 1e-13);
  compare_optimizer<float, train::SGD>(sgd, 1e-6);
  compare_optimizer<double, train::AdamW>(adamw, 1e-13);
  compare_optimizer<float, train::AdamW>(adamw, 1e-6);
  compare_clip<double>(1e-14);
  compare_clip<float>(1e-7);
}
