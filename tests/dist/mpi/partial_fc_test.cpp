// Partial FC over MPI against the unsharded MarginHead on the global batch:
//  - rate 1: loss, t, dL/d(embeddings) (x W, see partial_fc.hpp) and the weight gradient rows;
//  - rate < 1: the sampled set holds every positive and has the configured size, and the step
//    equals MarginHead over exactly the sampled classes of all ranks;
//  - CurricularFace t per rank (TMode::local) from the rank's own samples;
//  - gather_weight / load_full_weight round trip.
#include <catch2/catch.hpp>

#include <algorithm>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/recognition.hpp"

using namespace rfcf;
using rfcf::testing::rel_error;
using rfcf::testing::world;

namespace {

struct GlobalBatch {
  Tensor<float, cpu> embeddings;  // [N, d], identical on every rank
  std::vector<int64_t> labels;
};

GlobalBatch make_batch(int64_t N, int64_t d, int64_t C, uint64_t seed) {
  Generator g(seed);
  GlobalBatch b{Tensor<float, cpu>(Shape{N, d}), {}};
  init::normal(b.embeddings, g, 0.0, 1.0);
  for (int64_t i = 0; i < N; ++i) b.labels.push_back(g.integer(0, C - 1));
  return b;
}

std::vector<float> rows(const Tensor<float, cpu>& t, int64_t begin, int64_t count) {
  return t.slice_batch(begin, count).clone().to_vector();
}

template <class Policy>
void compare_with_margin_head(Policy policy, recognition::TMode mode) {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t B = 3, d = 8, C = 10, N = W * B;
  dist::PartialFCOptions o;
  o.t_mode = mode;
  dist::PartialFC<Policy, float, cpu> pfc(c, d, C, policy, o);
  recognition::MarginHead<Policy, float, cpu> head(d, C, policy);
  head.load_weight(pfc.gather_weight());  // the same class matrix
  const dist::ClassRange cr = pfc.class_range_of_rank();
  for (int step = 0; step < 2; ++step) {
    const GlobalBatch g = make_batch(N, d, C, 11 + step);
    const auto mine = g.embeddings.slice_batch(r * B, B);
    const std::vector<int64_t> my_labels(g.labels.begin() + r * B, g.labels.begin() + (r + 1) * B);
    const auto a = pfc.forward(mine, my_labels);
    const auto b = head.forward(g.embeddings, g.labels);
    CHECK(a.global_batch == N);
    CHECK(std::abs(a.loss - b.loss) / std::abs(b.loss) < 1e-5);
    CHECK(a.accuracy == b.accuracy);
    if (Policy::uses_t) CHECK(std::abs(pfc.t_value() - head.t_value()) < 1e-7);
    const Tensor<float, cpu> da = pfc.backward();
    const Tensor<float, cpu> db = head.backward();
    std::vector<float> want = rows(db, r * B, B);
    for (float& v : want) v *= float(W);
    CHECK(rel_error(da.to_vector(), want) < 1e-5);
  }
  CHECK(rel_error(pfc.weight().grad.to_vector(), rows(head.weight().grad, cr.start, cr.count)) < 1e-5);
}

}  // namespace

TEST_CASE("mpi: PartialFC rate 1 equals MarginHead on the global batch (CurricularFace global t, ArcFace)") {
  compare_with_margin_head(recognition::CurricularFace{}, recognition::TMode::global);
  compare_with_margin_head(recognition::ArcFace{}, recognition::TMode::local);
  compare_with_margin_head(recognition::CosFace{}, recognition::TMode::local);
}

TEST_CASE("mpi: PartialFC CurricularFace local t is each rank's own EMA") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t B = 4, d = 6, C = 12, N = W * B;
  dist::PartialFC<recognition::CurricularFace, float, cpu> pfc(c, d, C);
  const Tensor<float, cpu> full = pfc.gather_weight();
  const GlobalBatch g = make_batch(N, d, C, 5);
  // c_y of this rank's samples, in double.
  double sum = 0;
  for (int64_t i = r * B; i < (r + 1) * B; ++i) {
    const float* e = g.embeddings.data() + i * d;
    const float* w = full.data() + g.labels[i] * d;
    double ee = 0, ww = 0, ew = 0;
    for (int64_t k = 0; k < d; ++k) ee += e[k] * e[k], ww += w[k] * w[k], ew += e[k] * w[k];
    sum += std::clamp(ew / std::sqrt(ee * ww), -1.0, 1.0);
  }
  pfc.forward(g.embeddings.slice_batch(r * B, B),
              std::vector<int64_t>(g.labels.begin() + r * B, g.labels.begin() + (r + 1) * B));
  CHECK(pfc.t_value() == Approx(0.01 * sum / B).margin(1e-7));
}

TEST_CASE("mpi: PartialFC sampling keeps every positive, has the configured size, and equals the head over the sampled classes") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t B = 8 / W, d = 8, C = 400, N = W * B;  // 400 / W classes per rank, 40 / W sampled
  using Policy = recognition::CurricularFace;
  dist::PartialFCOptions o;
  o.sample_rate = 0.1;
  o.t_mode = recognition::TMode::global;
  o.sample_seed = 3;
  dist::PartialFC<Policy, float, cpu> pfc(c, d, C, Policy{}, o);
  const dist::ClassRange cr = pfc.class_range_of_rank();
  const int64_t S = cr.count / 10;
  REQUIRE(pfc.num_sample() == S);
  const Tensor<float, cpu> full = pfc.gather_weight();
  double t = 0;
  for (int step = 0; step < 3; ++step) {
    const GlobalBatch g = make_batch(N, d, C, 40 + step);
    pfc.weight().grad.copy_from(zeros<float, cpu>(pfc.weight().grad.shape()));
    const auto out = pfc.forward(g.embeddings.slice_batch(r * B, B),
                                 std::vector<int64_t>(g.labels.begin() + r * B, g.labels.begin() + (r + 1) * B));
    const std::vector<int64_t>& s = pfc.sampled_classes();
    REQUIRE(out.sampled_classes == S);
    REQUIRE(static_cast<int64_t>(s.size()) == S);
    CHECK(std::is_sorted(s.begin(), s.end()));
    for (int64_t y : g.labels)
      if (cr.contains(y)) CHECK(std::binary_search(s.begin(), s.end(), y - cr.start));
    const Tensor<float, cpu> d_emb = pfc.backward();

    // Reference: MarginHead over the union of sampled classes (rank-major = ascending class ids).
    std::vector<int64_t> mine;
    for (int64_t k : s) mine.push_back(cr.start + k);
    const std::vector<int64_t> all =
        dist::all_gather(c, Tensor<int64_t, cpu>::from_host(Shape{S}, mine)).to_vector();
    REQUIRE(std::is_sorted(all.begin(), all.end()));
    Tensor<float, cpu> sub(Shape{static_cast<int64_t>(all.size()), d});
    for (size_t j = 0; j < all.size(); ++j) sub.slice_batch(j, 1).copy_from(full.slice_batch(all[j], 1));
    std::vector<int64_t> remapped;
    for (int64_t y : g.labels) remapped.push_back(std::lower_bound(all.begin(), all.end(), y) - all.begin());
    recognition::MarginHead<Policy, float, cpu> head(d, static_cast<int64_t>(all.size()));
    head.load_weight(sub);
    head.set_t(t);
    const auto b = head.forward(g.embeddings, remapped);
    t = head.t_value();
    CHECK(std::abs(out.loss - b.loss) / std::abs(b.loss) < 1e-5);
    CHECK(std::abs(pfc.t_value() - t) < 1e-7);
    std::vector<float> want = rows(head.backward(), r * B, B);
    for (float& v : want) v *= float(W);
    CHECK(rel_error(d_emb.to_vector(), want) < 1e-5);
    // Sampled rows carry the head's gradient, the others none.
    const std::vector<float> grad = pfc.weight().grad.to_vector();
    for (int64_t k = 0, j = 0; k < cr.count; ++k) {
      const bool sampled = j < S && s[static_cast<size_t>(j)] == k;
      const std::vector<float> got(grad.begin() + k * d, grad.begin() + (k + 1) * d);
      if (sampled) {
        CHECK(rel_error(got, rows(head.weight().grad, r * S + j, 1)) < 1e-4);
        ++j;
      } else {
        CHECK(*std::max_element(got.begin(), got.end()) == 0.0f);
      }
    }
    // The weights "move" between steps so that the next step samples differently.
    pfc.load_full_weight(full);
  }
}

TEST_CASE("mpi: PartialFC keeps only the positives when they outnumber the sample, and round-trips its matrix") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  const int64_t B = 8, d = 4, C = 20 * W, N = W * B;  // 20 classes per rank, 2 sampled
  dist::PartialFCOptions o;
  o.sample_rate = 0.1;
  dist::PartialFC<recognition::ArcFace, float, cpu> pfc(c, d, C, recognition::ArcFace{}, o);
  const GlobalBatch g = make_batch(N, d, C, 9);
  pfc.forward(g.embeddings.slice_batch(r * B, B),
              std::vector<int64_t>(g.labels.begin() + r * B, g.labels.begin() + (r + 1) * B));
  const dist::ClassRange cr = pfc.class_range_of_rank();
  std::vector<int64_t> positives;
  for (int64_t y : g.labels)
    if (cr.contains(y)) positives.push_back(y - cr.start);
  std::sort(positives.begin(), positives.end());
  positives.erase(std::unique(positives.begin(), positives.end()), positives.end());
  if (static_cast<int64_t>(positives.size()) >= pfc.num_sample()) CHECK(pfc.sampled_classes() == positives);
  else CHECK(static_cast<int64_t>(pfc.sampled_classes().size()) == pfc.num_sample());

  // A matrix written by rank 0 loads on any split.
  Tensor<float, cpu> full = pfc.gather_weight();
  CHECK(full.shape() == Shape{C, d});
  dist::PartialFC<recognition::ArcFace, float, cpu> other(c, d, C, recognition::ArcFace{}, o);
  other.load_full_weight(full);
  CHECK(other.weight().value.to_vector() == pfc.weight().value.to_vector());
  // The initial matrix does not depend on the number of ranks: row k is drawn from (seed, k).
  dist::LocalCommunicator<cpu> alone;
  dist::PartialFC<recognition::ArcFace, float, cpu> single(alone, d, C, recognition::ArcFace{}, o);
  CHECK(single.weight().value.to_vector() == full.to_vector());
}
