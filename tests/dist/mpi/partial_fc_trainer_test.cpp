// dist::PartialFCTrainer (what rfcf-train-recognizer --partial-fc runs) on W MPI ranks:
//  1. rate 1 == RecognitionTrainer + DataParallel on the same ranks (the program without
//     --partial-fc): gradients every step, backbone, whole head and t after a few steps (< 1e-5).
//     In double: PartialFC computes the cosines of all W B rows against its shard, a different
//     summation order, and with 2-4 samples per rank the BatchNorms amplify float32 rounding of
//     that to ~1e-3 in the backbone gradients (see recognizer_test.cpp);
//  2. a checkpoint written by 2 ranks (a sub-world of the job) resumes on 1 rank and on all W
//     ranks (4 in the 4-rank job): every rank's rows and momentum rows are exactly the file's,
//     the gathered head is the file's head, and RecognitionTrainer loads the same file.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>

#include "dist/mpi/world.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/dist/partial_fc_trainer.hpp"
#include "rfcf/io/safetensors.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/recognition/trainer.hpp"

using namespace rfcf;
using rfcf::testing::rel_error;
using rfcf::testing::world;

namespace {

constexpr int64_t kClasses = 10, kEmbedding = 16, kGlobalBatch = 8;
using T = double;
using Net = models::MobileFaceNet<T, cpu>;
using Policy = recognition::CurricularFace;

Net make_net() {
  default_generator().seed(3);  // the layers draw from it: the same backbone everywhere
  models::MobileFaceNetOptions o;
  o.embedding_size = kEmbedding;
  o.input_h = o.input_w = 32;
  return Net(o);
}

recognition::RecognitionTrainerOptions trainer_options() {
  recognition::RecognitionTrainerOptions o;
  o.lr = 0.1;
  o.schedule = "constant";
  o.epochs = 1;
  o.steps_per_epoch = 10;
  return o;
}

// Samples [first, first + n) of a synthetic set: fixed random images, label i * 3 mod classes.
std::pair<Tensor<T, cpu>, std::vector<int64_t>> samples(int64_t first, int64_t n) {
  const int64_t size = 3 * 32 * 32;
  Tensor<T, cpu> x(Shape{n, 3, 32, 32});
  std::vector<int64_t> y;
  for (int64_t k = 0; k < n; ++k) {
    Generator g(500 + static_cast<uint64_t>(first + k));
    for (int64_t j = 0; j < size; ++j) x.data()[k * size + j] = static_cast<T>(g.uniform(-1, 1));
    y.push_back(((first + k) * 3) % kClasses);
  }
  return {x, y};
}

// This rank's part of global batch `step`.
std::pair<Tensor<T, cpu>, std::vector<int64_t>> local_batch(int64_t step, int rank, int world_size) {
  const int64_t b = kGlobalBatch / world_size;
  return samples(step * kGlobalBatch + rank * b, b);
}

std::vector<T> host_values(const io::HostTensor& t) { return t.as<T>(); }

}  // namespace

TEST_CASE("mpi: PartialFCTrainer at rate 1 == RecognitionTrainer + DataParallel (t global)") {
  dist::Communicator& c = world();
  const int W = c.size(), r = c.rank();
  dist::PartialFCOptions po;
  po.t_mode = recognition::TMode::global;
  dist::PartialFCTrainer<Net, Policy, T> pfc(c, make_net(), kEmbedding, kClasses, Policy{}, trainer_options(), po);

  recognition::RecognitionTrainer<Net, Policy, T> plain(make_net(), kEmbedding, kClasses, Policy{}, trainer_options());
  plain.head().load_weight(pfc.head().gather_weight());  // the initialisations differ by design
  plain.head().set_t_mode(recognition::TMode::global);
  plain.head().set_t_reducer(dist::t_reducer<cpu>(c));
  dist::DataParallel<T, cpu> ddp(c, plain.parameters());
  ddp.broadcast_model(plain.backbone());
  plain.set_grad_hook([&ddp](nn::FlatParameters<T, cpu>&) { ddp.sync_gradients(); });

  const std::vector<T> w0 = pfc.backbone_parameters().values().to_vector();
  for (int64_t k = 0; k < 3; ++k) {
    auto [x, y] = local_batch(k, r, W);
    const auto a = pfc.step(x, y);
    const auto b = plain.step(x, y);
    std::vector<double> plain_loss{b.loss / W};
    dist::all_reduce_values<cpu>(c, plain_loss);
    CHECK(std::abs(a.loss - plain_loss[0]) < 1e-5 * plain_loss[0]);
    // The gradients of the step: the backbone's (averaged over ranks) and the whole head's.
    const int64_t nb = pfc.backbone_parameters().numel();
    const std::vector<T> g_plain = plain.parameters().grads().to_vector();
    const std::vector<T> gb_plain(g_plain.begin(), g_plain.begin() + nb), gh_plain(g_plain.begin() + nb, g_plain.end());
    const std::vector<T> gh_pfc =
        pfc.head().gather_rows(pfc.head().weight().grad).to_vector();
    INFO("step " << k << ": backbone gradient rel. error " << rel_error(pfc.backbone_parameters().grads().to_vector(), gb_plain)
                 << ", head gradient " << rel_error(gh_pfc, gh_plain));
    CHECK(rel_error(pfc.backbone_parameters().grads().to_vector(), gb_plain) < 1e-5);
    CHECK(rel_error(gh_pfc, gh_plain) < 1e-5);
    CHECK(std::abs(a.grad_norm - b.grad_norm) < 1e-5 * b.grad_norm);
  }
  std::vector<T> backbone_plain, head_plain;
  nn::for_each_parameter(plain.backbone(), [&](const std::string&, nn::Parameter<T, cpu>& p) {
    const auto v = p.value.to_vector();
    backbone_plain.insert(backbone_plain.end(), v.begin(), v.end());
  });
  const std::vector<T> backbone_pfc = pfc.backbone_parameters().values().to_vector();
  const std::vector<T> head_pfc = pfc.head().gather_weight().to_vector();
  head_plain = plain.head().weight().value.to_vector();
  INFO("W = " << W << ": backbone rel. error " << rel_error(backbone_pfc, backbone_plain) << ", head "
              << rel_error(head_pfc, head_plain));
  CHECK(rel_error(backbone_pfc, backbone_plain) < 1e-5);
  CHECK(rel_error(head_pfc, head_plain) < 1e-5);
  CHECK(rel_error(backbone_pfc, w0) > 1e-4);  // the steps moved the weights
  CHECK(std::abs(pfc.head().t_value() - plain.head().t_value()) < 1e-6);
  CHECK(pfc.head().t_value() != 0);
}

TEST_CASE("mpi: a Partial FC checkpoint of 2 ranks resumes on 1 rank and on all ranks") {
  auto& c = world();
  const int W = c.size(), r = c.rank();
  const int writers = std::min(W, 2);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("rfcf_pfc_resume_" + std::to_string(W) + ".safetensors")).string();
  dist::PartialFCOptions po;
  po.sample_rate = 0.6;  // sampled steps: momentum rows differ from the gradient rows
  // Ranks [0, writers) train 2 steps as a world of their own and write the checkpoint.
  MPI_Comm sub_native;
  MPI_Comm_split(c.native(), r < writers ? 0 : MPI_UNDEFINED, r, &sub_native);
  std::vector<T> written_head;
  if (r < writers) {
    dist::MpiCommunicator sub(sub_native);
    MPI_Comm_free(&sub_native);
    dist::PartialFCTrainer<Net, Policy, T> tr(sub, make_net(), kEmbedding, kClasses, Policy{}, trainer_options(), po);
    for (int64_t k = 0; k < 2; ++k) {
      auto [x, y] = local_batch(k, r, writers);
      tr.step(x, y);
    }
    tr.set_position(0, 2);
    written_head = tr.head().gather_weight().to_vector();
    tr.save(path);
  }
  c.barrier();
  const io::TensorMap file = io::read_safetensors(path);
  const std::vector<T> head = host_values(*file.find("head.weight"));
  const std::vector<T> momentum = host_values(*file.find("optimizer.head.weight.momentum_buffer"));
  if (r < writers) CHECK(head == written_head);
  REQUIRE(head.size() == static_cast<size_t>(kClasses * kEmbedding));
  REQUIRE(momentum.size() == head.size());

  auto check_rows = [&](dist::PartialFCTrainer<Net, Policy, T>& tr) {
    const dist::ClassRange cr = tr.head().class_range_of_rank();
    const auto begin = static_cast<ptrdiff_t>(cr.start * kEmbedding), end = begin + cr.count * kEmbedding;
    CHECK(tr.head().weight().value.to_vector() == std::vector<T>(head.begin() + begin, head.begin() + end));
    CHECK(tr.head_optimizer().momentum_buffer().to_vector() ==
          std::vector<T>(momentum.begin() + begin, momentum.begin() + end));
    CHECK(tr.head_optimizer().steps() == 2);
    CHECK(tr.steps_done() == 2);
    CHECK(tr.batch_in_epoch() == 2);
    CHECK(static_cast<T>(tr.head().t_value()) == host_values(*file.find("head.t"))[0]);
    CHECK(tr.head().t_value() != 0);
  };
  {  // one rank
    dist::LocalCommunicator<cpu> one;
    dist::PartialFCTrainer<Net, Policy, T> tr(one, make_net(), kEmbedding, kClasses, Policy{}, trainer_options(), po);
    tr.load(path);
    check_rows(tr);
  }
  {  // all W ranks (4 in the 4-rank job)
    dist::PartialFCTrainer<Net, Policy, T> tr(c, make_net(), kEmbedding, kClasses, Policy{}, trainer_options(), po);
    tr.load(path);
    check_rows(tr);
    CHECK(tr.head().gather_weight().to_vector() == head);
    // It trains on from there (every rank gets the same loss of the global batch).
    auto [x, y] = local_batch(2, r, W);
    std::vector<double> loss{tr.step(x, y).loss};
    const double mine = loss[0];
    dist::all_reduce_values<cpu>(c, loss, dist::ReduceOp::max);
    CHECK(loss[0] == mine);
    CHECK(std::isfinite(mine));
  }
  {  // the same file without Partial FC
    recognition::RecognitionTrainer<Net, Policy, T> plain(make_net(), kEmbedding, kClasses, Policy{}, trainer_options());
    plain.load(path);
    CHECK(plain.head().weight().value.to_vector() == head);
    CHECK(plain.steps_done() == 2);
  }
  c.barrier();
  if (r == 0) std::filesystem::remove(path);
}
