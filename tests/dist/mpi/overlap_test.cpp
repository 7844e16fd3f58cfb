// DataParallel::overlap_backward: the composites' backward hooks start gradient buckets during
// backward. The results must be bit-identical to synchronising after backward, and buckets must
// really start early (otherwise the hook is not wired).
#include <catch2/catch.hpp>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/nn.hpp"
#include "rfcf/train.hpp"

using namespace rfcf;
using rfcf::testing::world;

namespace {

using T = float;

auto make_net() {
  default_generator().seed(7);
  const auto k3 = nn::Conv2dOptions::k(3).padded(1), k1 = nn::Conv2dOptions::k(1);
  return nn::Sequential{nn::Conv2d<T, cpu>(3, 8, k3),
                        nn::BatchNorm2d<T, cpu>(8),
                        nn::ReLU<T, cpu>(),
                        nn::Residual{nn::Sequential{nn::Conv2d<T, cpu>(8, 8, k3), nn::ReLU<T, cpu>()}},
                        nn::Repeat<nn::Conv2d<T, cpu>>({nn::Conv2d<T, cpu>(8, 8, k1), nn::Conv2d<T, cpu>(8, 8, k1)}),
                        nn::Concat{nn::Conv2d<T, cpu>(8, 4, k1), nn::Conv2d<T, cpu>(8, 4, k1.with_bias())},
                        nn::Flatten<T, cpu>(),
                        nn::Linear<T, cpu>(8 * 6 * 6, 5)};
}
using Net = decltype(make_net());

struct Run {
  Net net = make_net();
  nn::FlatParameters<T, cpu> params{net};
  dist::DataParallel<T, cpu> ddp;
  train::SGD<T, cpu> sgd{params, train::SGDOptions{0.05, 0.9, 0.0, 1e-4, false}};
  nn::CrossEntropyLoss<T, cpu> ce;
  explicit Run(dist::Communicator& c) : ddp(c, params, dist::DataParallelOptions{.bucket_bytes = 256}) {}

  std::vector<T> step(int64_t k, int rank, bool overlap) {
    Generator g(100 + 10 * static_cast<uint64_t>(k) + static_cast<uint64_t>(rank));
    Tensor<T, cpu> x(Shape{2, 3, 6, 6});
    for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<T>(g.uniform(-1, 1));
    const std::vector<int64_t> labels{(k + rank) % 5, (k + rank + 2) % 5};
    sgd.zero_grad();
    ce.forward(net.forward(x), labels);
    if (overlap) {
      auto during_backward = ddp.overlap_backward();
      net.backward(ce.backward());
    } else {
      net.backward(ce.backward());
    }
    ddp.sync_gradients();
    sgd.step();
    return params.grads().to_vector();
  }
};

}  // namespace

TEST_CASE("mpi: DataParallel overlapped with backward == synchronised after backward, bit for bit") {
  dist::Communicator& c = world();
  Run plain(c), overlapped(c);
  REQUIRE(plain.ddp.buckets().size() > 3);
  for (int64_t k = 0; k < 3; ++k) {
    CHECK(plain.step(k, c.rank(), false) == overlapped.step(k, c.rank(), true));
    CHECK(plain.ddp.buckets_launched_early() == 0);
    CHECK(overlapped.ddp.buckets_launched_early() == static_cast<int64_t>(overlapped.ddp.buckets().size()));
  }
  CHECK(plain.params.values().to_vector() == overlapped.params.values().to_vector());
  // Without the guard, a later backward reports nothing.
  CHECK(nn::backward_observer_slot() == nullptr);
}
