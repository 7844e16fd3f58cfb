// The MPI back end: every collective against values each rank can predict, non-blocking
// all-reduce, DataParallel averaging and the broadcast of a model's state from rank 0.
#include <catch2/catch.hpp>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/nn.hpp"

using namespace rfcf;
using rfcf::testing::world;

namespace {
// Buffer values and the last counter of a model (visitor protocol).
struct Buffers {
  std::vector<float> values;
  int64_t last_counter = -1;
  template <class P>
  void parameter(const std::string&, P&) {}
  void buffer(const std::string&, Tensor<float, cpu>& t) {
    for (float v : t.to_vector()) values.push_back(v);
  }
  void counter(const std::string&, int64_t& c) { last_counter = c; }
};
}  // namespace

TEST_CASE("mpi: all_reduce, all_gather, broadcast, reduce_scatter, barrier") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  Tensor<float, cpu> t = Tensor<float, cpu>::from_host(Shape{3}, {float(r + 1), float(-r), 2.5f});
  Tensor<float, cpu> mx = t.clone(), mn = t.clone();
  dist::all_reduce(c, t);
  CHECK(t.to_vector() == std::vector<float>{float(W * (W + 1) / 2), float(-W * (W - 1) / 2), 2.5f * W});
  dist::all_reduce(c, mx, dist::ReduceOp::max);
  dist::all_reduce(c, mn, dist::ReduceOp::min);
  CHECK(mx.to_vector() == std::vector<float>{float(W), 0.0f, 2.5f});
  CHECK(mn.to_vector() == std::vector<float>{1.0f, float(1 - W), 2.5f});

  std::vector<int64_t> counts{r, 1};
  dist::all_reduce_values<cpu>(c, counts);
  CHECK(counts == std::vector<int64_t>{W * (W - 1) / 2, W});

  const Tensor<double, cpu> mine = Tensor<double, cpu>::from_host(Shape{1, 2}, {double(r), double(10 * r)});
  const Tensor<double, cpu> all = dist::all_gather(c, mine);
  REQUIRE(all.shape() == Shape{W, 2});
  for (int k = 0; k < W; ++k) CHECK((all.data()[2 * k] == k && all.data()[2 * k + 1] == 10 * k));

  Tensor<int64_t, cpu> b = Tensor<int64_t, cpu>::from_host(Shape{2}, {int64_t(r), int64_t(7 * r)});
  dist::broadcast(c, b, W - 1);
  CHECK(b.to_vector() == std::vector<int64_t>{W - 1, 7 * (W - 1)});

  // Block k of every rank holds k + r: the reduced block of rank r is sum_q (r + q).
  std::vector<float> blocks;
  for (int k = 0; k < W; ++k) blocks.insert(blocks.end(), {float(k + r), 1.0f});
  const Tensor<float, cpu> rs = dist::reduce_scatter(c, Tensor<float, cpu>::from_host(Shape{2 * W}, blocks));
  CHECK(rs.to_vector() == std::vector<float>{float(W * r + W * (W - 1) / 2), float(W)});

  Tensor<float, cpu> a = full<float, cpu>(Shape{1000}, float(r));
  auto work = dist::all_reduce_async(c, a);
  work->wait();
  CHECK(work->test());
  CHECK(a.data()[999] == float(W * (W - 1) / 2));
  c.barrier();
  if (W > 1) CHECK_THROWS_AS(dist::reduce_scatter(c, Tensor<float, cpu>(Shape{W + 1})), ShapeError);
}

TEST_CASE("mpi: DataParallel averages gradients bucket by bucket and broadcasts rank 0's model") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  default_generator().seed(100 + r);  // every rank starts different
  nn::Sequential net{nn::Linear<float, cpu>(6, 12), nn::BatchNorm1d<float, cpu>(12), nn::Linear<float, cpu>(12, 3)};
  nn::FlatParameters<float, cpu> params(net);
  dist::DataParallelOptions o;
  o.bucket_bytes = 64;  // many buckets
  dist::DataParallel<float, cpu> ddp(c, params, o);
  REQUIRE(ddp.buckets().size() > 3);

  // Give rank 0 distinctive buffers and counters, then broadcast.
  if (r == 0) {
    nn::NoGradGuard no_grad;
    Tensor<float, cpu> x(Shape{4, 6});
    Generator g(1);
    init::normal(x, g, 0.0, 1.0);
    net.forward(x);  // updates running stats and num_batches_tracked
  }
  ddp.broadcast_model(net);
  std::vector<float> values = params.values().to_vector();
  Buffers buffers;
  net.visit(buffers, "");
  std::vector<float> snapshot = values;
  snapshot.insert(snapshot.end(), buffers.values.begin(), buffers.values.end());
  snapshot.push_back(float(buffers.last_counter));
  Tensor<float, cpu> root = Tensor<float, cpu>::from_host(Shape{int64_t(snapshot.size())}, snapshot);
  dist::broadcast(c, root, 0);
  CHECK(root.to_vector() == snapshot);  // identical to rank 0's
  CHECK(buffers.last_counter == 1);

  // Gradients r * (i + 1) on rank r average to (W - 1) / 2 * (i + 1); buckets go out in any order.
  const int64_t n = params.numel();
  for (int64_t i = 0; i < n; ++i) params.grads().data()[i] = float(r) * float(i % 97 + 1);
  ddp.mark_ready(static_cast<int64_t>(params.segments().size()) - 1);
  ddp.sync_gradients();
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(params.grads().data()[i] - 0.5 * (W - 1) * double(i % 97 + 1)));
  CHECK(worst < 1e-4);
}
