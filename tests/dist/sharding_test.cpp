// Sample and class sharding, the one-process communicator, DataParallel's buckets, Partial FC in a
// world of one (equal to MarginHead; sampling keeps every positive) and the TCP rendezvous.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <future>
#include <thread>

#include "rfcf/cpu.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/nn.hpp"

using namespace rfcf;

TEST_CASE("shard_indices: ranks are disjoint, cover the epoch, and match one process's global batches") {
  const int64_t n = 23;
  for (int world : {1, 2, 3, 4}) {
    dist::ShardOptions o;
    o.seed = 7;
    const std::vector<int64_t> order = dist::epoch_order(n, 3, o);
    std::vector<std::vector<int64_t>> shards;
    for (int r = 0; r < world; ++r) shards.push_back(dist::shard_indices(n, r, world, 3, o));
    const size_t per_rank = static_cast<size_t>((n + world - 1) / world);
    std::multiset<int64_t> all;
    for (const auto& s : shards) {
      REQUIRE(s.size() == per_rank);  // the same number of steps on every rank
      all.insert(s.begin(), s.end());
    }
    for (int64_t i = 0; i < n; ++i) CHECK(all.count(i) >= 1);  // every sample is seen
    CHECK(static_cast<int64_t>(all.size()) - n < world);        // wrap-around pads fewer than W
    // Local batch b on W ranks == global batch W*b of one process reading the same order.
    const size_t b = 2;
    for (size_t k = 0; (k + 1) * b <= per_rank && (k + 1) * b * world <= static_cast<size_t>(n); ++k) {
      std::set<int64_t> got, want(order.begin() + k * b * world, order.begin() + (k + 1) * b * world);
      for (const auto& s : shards) got.insert(s.begin() + k * b, s.begin() + (k + 1) * b);
      CHECK(got == want);
    }
  }
  dist::ShardOptions o;
  CHECK(dist::shard_indices(n, 1, 2, 0, o) == dist::shard_indices(n, 1, 2, 0, o));  // deterministic
  CHECK(dist::shard_indices(n, 1, 2, 0, o) != dist::shard_indices(n, 1, 2, 1, o));  // differs per epoch
  o.drop_last = true;
  CHECK(dist::shard_indices(n, 0, 4, 0, o).size() == 5);
  CHECK_THROWS_AS(dist::shard_indices(n, 2, 2, 0, o), ConfigError);
}

TEST_CASE("class_range: the Partial FC split (recognition.md 5)") {
  const int64_t C = 10;
  const int W = 4;
  int64_t next = 0;
  for (int r = 0; r < W; ++r) {
    const dist::ClassRange cr = dist::class_range(C, r, W);
    CHECK(cr.start == next);
    CHECK(cr.count == (r < 2 ? 3 : 2));
    next += cr.count;
  }
  CHECK(next == C);
  CHECK_THROWS_AS(dist::class_range(3, 0, 4), ConfigError);
}

TEST_CASE("LocalCommunicator: collectives of a world of one - tensors on the wrong device are refused") {
  dist::LocalCommunicator<cpu> c;
  Tensor<float, cpu> t = Tensor<float, cpu>::from_host(Shape{3}, {1, 2, 3});
  dist::all_reduce(c, t);
  CHECK(t.to_vector() == std::vector<float>{1, 2, 3});
  CHECK(dist::all_gather(c, t).to_vector() == std::vector<float>{1, 2, 3});
  CHECK(dist::reduce_scatter(c, t).to_vector() == std::vector<float>{1, 2, 3});
  std::vector<double> v{4.0};
  dist::all_reduce_values<cpu>(c, v);
  CHECK(v[0] == 4.0);
  CHECK_THROWS_AS(c.broadcast(t.data(), 3, dist::DataType::f32, 1), ConfigError);
  CHECK(c.where() == "rank 0/1 (local)");
}

TEST_CASE("DataParallel: buckets cover the flat buffer in reverse parameter order") {
  nn::Sequential net{nn::Linear<float, cpu>(10, 20), nn::Linear<float, cpu>(20, 30), nn::Linear<float, cpu>(30, 5)};
  nn::FlatParameters<float, cpu> params(net);
  dist::LocalCommunicator<cpu> c;
  dist::DataParallelOptions o;
  o.bucket_bytes = 700 * 4;  // splits the 6 segments (200, 20, 600, 30, 150, 5 values) into several buckets
  dist::DataParallel<float, cpu> ddp(c, params, o);
  const auto& buckets = ddp.buckets();
  REQUIRE(buckets.size() >= 2);
  CHECK(buckets.front().end == params.numel());
  CHECK(buckets.back().begin == 0);
  for (size_t i = 1; i < buckets.size(); ++i) CHECK(buckets[i].end == buckets[i - 1].begin);
  CHECK(buckets.front().segments.front() == static_cast<int64_t>(params.segments().size()) - 1);
  // A world of one leaves gradients alone, whether buckets go out early or at the end.
  for (int64_t i = 0; i < params.numel(); ++i) params.grads().data()[i] = static_cast<float>(i);
  ddp.mark_ready(5);
  ddp.mark_ready(4);
  ddp.sync_gradients();
  for (int64_t i = 0; i < params.numel(); ++i) REQUIRE(params.grads().data()[i] == static_cast<float>(i));
}

TEST_CASE("PartialFC in a world of one equals MarginHead - sampling keeps every positive") {
  using Policy = recognition::CurricularFace;
  dist::LocalCommunicator<cpu> c;
  const int64_t B = 6, d = 8, C = 40;
  Generator g(3);
  Tensor<float, cpu> emb(Shape{B, d});
  init::normal(emb, g, 0.0, 1.0);
  const std::vector<int64_t> labels{3, 17, 3, 39, 0, 22};

  dist::PartialFC<Policy, float, cpu> pfc(c, d, C);
  recognition::MarginHead<Policy, float, cpu> head(d, C);
  head.load_weight(pfc.weight().value);
  for (int step = 0; step < 2; ++step) {
    const auto a = pfc.forward(emb, labels);
    const auto b = head.forward(emb, labels);
    CHECK(a.loss == Approx(b.loss).epsilon(1e-6));
    CHECK(a.accuracy == b.accuracy);
    CHECK(pfc.t_value() == Approx(head.t_value()).epsilon(1e-6));
    const auto da = pfc.backward().to_vector(), db = head.backward().to_vector();
    for (size_t i = 0; i < da.size(); ++i) REQUIRE(da[i] == Approx(db[i]).margin(1e-6));
  }
  const auto ga = pfc.weight().grad.to_vector(), gb = head.weight().grad.to_vector();
  for (size_t i = 0; i < ga.size(); ++i) REQUIRE(ga[i] == Approx(gb[i]).margin(1e-6));

  dist::PartialFCOptions o;
  o.sample_rate = 0.25;  // 10 of 40 classes
  dist::PartialFC<Policy, float, cpu> sampled(c, d, C, Policy{}, o);
  for (int step = 0; step < 5; ++step) {
    const auto out = sampled.forward(emb, labels);
    const auto& s = sampled.sampled_classes();
    CHECK(out.sampled_classes == 10);
    REQUIRE(s.size() == 10);
    CHECK(std::is_sorted(s.begin(), s.end()));
    for (int64_t y : labels) CHECK(std::binary_search(s.begin(), s.end(), y));
    sampled.backward();
  }
  // Un-sampled classes of the last step got no gradient in it (earlier steps' rows may have some).
  dist::PartialFCOptions tiny;
  tiny.sample_rate = 0.01;  // int(0.4) = 0 classes
  using Head = dist::PartialFC<Policy, float, cpu>;
  CHECK_THROWS_AS(Head(c, d, C, Policy{}, tiny), ConfigError);
  CHECK_THROWS_AS(pfc.forward(emb, {1, 2, 3, 4, 5, 40}), ShapeError);
}

TEST_CASE("tcp_rendezvous: rank 0's blob reaches every rank - a missing rank times out with its number") {
  const int world = 3;
  std::vector<uint8_t> blob(128);
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<uint8_t>(i * 7);
  std::promise<int> port_promise;
  auto port_future = port_promise.get_future().share();
  std::vector<std::vector<uint8_t>> got(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      dist::RendezvousOptions o;
      o.timeout_s = 20;
      if (r == 0) {
        o.master_port = 0;
        o.on_listening = [&](int p) { port_promise.set_value(p); };
        got[0] = dist::tcp_rendezvous(0, world, blob, o);
      } else {
        o.master_port = port_future.get();
        got[static_cast<size_t>(r)] = dist::tcp_rendezvous(r, world, {}, o);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) CHECK(got[static_cast<size_t>(r)] == blob);

  dist::RendezvousOptions o;
  o.master_port = 0;
  o.timeout_s = 0.5;
  try {
    dist::tcp_rendezvous(0, 2, blob, o);
    FAIL("no timeout");
  } catch (const dist::CollectiveTimeout& e) {
    CHECK_THAT(e.what(), Catch::Contains("ranks 1 did not join within 0.5 s"));
  }
}
