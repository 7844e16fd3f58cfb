// The NCCL back end in a world of one GPU (CI compiles this; it runs where a GPU is present):
// every collective, DataParallel, and Partial FC on CUDA tensors against the non-distributed
// MarginHead. Compiled only with NCCL (RFCF_HAVE_NCCL, target rfcf::nccl).
#if RFCF_HAVE_NCCL
#include <catch2/catch.hpp>

#include "rfcf/cuda.cuh"
#include "rfcf/dist.hpp"
#include "rfcf/dist/nccl.cuh"
#include "rfcf/recognition.hpp"

using namespace rfcf;

namespace {
dist::NcclCommunicator& single_gpu() {
  static dist::NcclCommunicator c(dist::nccl_unique_id(dist::LaunchInfo{}), 0, 1);
  return c;
}
}  // namespace

TEST_CASE("nccl: collectives of a world of one GPU") {
  dist::NcclCommunicator& c = single_gpu();
  CHECK(c.where() == "rank 0/1 (nccl)");
  Tensor<float, cuda> t = Tensor<float, cuda>::from_host(Shape{3}, {1, 2, 3});
  dist::all_reduce(c, t);
  dist::all_reduce(c, t, dist::ReduceOp::max);
  CHECK(t.to_vector() == std::vector<float>{1, 2, 3});
  CHECK(dist::all_gather(c, t).to_vector() == std::vector<float>{1, 2, 3});
  CHECK(dist::reduce_scatter(c, t).to_vector() == std::vector<float>{1, 2, 3});
  dist::broadcast(c, t, 0);
  c.barrier();
  std::vector<double> v{2.5};
  dist::all_reduce_values<cuda>(c, v);
  CHECK(v[0] == 2.5);
  Tensor<float, cpu> host(Shape{3});
  CHECK_THROWS_AS(dist::all_reduce(c, host), ConfigError);
}

TEST_CASE("nccl: PartialFC on one GPU equals MarginHead; DataParallel leaves gradients alone") {
  using Policy = recognition::CurricularFace;
  dist::NcclCommunicator& c = single_gpu();
  const int64_t B = 6, d = 8, C = 40;
  Generator g(3);
  Tensor<float, cpu> emb_h(Shape{B, d});
  init::normal(emb_h, g, 0.0, 1.0);
  const Tensor<float, cuda> emb = emb_h.to<cuda>();
  const std::vector<int64_t> labels{3, 17, 3, 39, 0, 22};
  dist::PartialFC<Policy, float, cuda> pfc(c, d, C);
  recognition::MarginHead<Policy, float, cuda> head(d, C);
  head.load_weight(pfc.weight().value);
  for (int step = 0; step < 2; ++step) {
    const auto a = pfc.forward(emb, labels);
    const auto b = head.forward(emb, labels);
    CHECK(a.loss == Approx(b.loss).epsilon(1e-5));
    const auto da = pfc.backward().to_vector(), db = head.backward().to_vector();
    for (size_t i = 0; i < da.size(); ++i) REQUIRE(da[i] == Approx(db[i]).margin(1e-5));
  }
  const auto ga = pfc.weight().grad.to_vector(), gb = head.weight().grad.to_vector();
  for (size_t i = 0; i < ga.size(); ++i) REQUIRE(ga[i] == Approx(gb[i]).margin(1e-5));

  nn::FlatParameters<float, cuda> params(head);
  dist::DataParallel<float, cuda> ddp(c, params);
  ddp.broadcast_model(head);
  const auto before = params.grads().to_vector();
  ddp.sync_gradients();
  CHECK(params.grads().to_vector() == before);
}
#endif
