// train::DetectorTrainer (the loop of rfcf-train-detector) on a tiny synthetic data set at 64x64:
// 2 epochs straight == 1 epoch + resume + 1 epoch (bit for bit, with accumulation and the
// progressive schedule on), a NaN loss stops with a clear error and leaves the last checkpoint
// intact, ImageNet backbone loading, the progressive ignore rule, loader sharding, logs/curve.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/train/detector_trainer.hpp"

using namespace rfcf;
namespace fs = std::filesystem;

namespace {

// 6 images of 80x72 with 1-3 faces each; pixels are a deterministic pattern per image.
std::vector<data::AnnotatedImage> toy_set() {
  std::vector<data::AnnotatedImage> v;
  for (int i = 0; i < 6; ++i) {
    data::AnnotatedImage im;
    im.path = "toy_" + std::to_string(i);
    for (int k = 0; k <= i % 3; ++k) {
      data::FaceAnnotation f{};
      const float s = 14.f + 8.f * k, x = 4.f + 22.f * k, y = 6.f + 3.f * i;
      const float box[4] = {x, y, x + s, y + 1.2f * s};
      for (int j = 0; j < 4; ++j) f.values[j] = box[j];
      for (int j = 0; j < 5; ++j) f.values[4 + 2 * j] = x + s * (0.2f + 0.15f * j), f.values[5 + 2 * j] = y + 0.6f * s;
      f.values[14] = (i + k) % 2 ? 1.f : -1.f;
      if (f.values[14] < 0)
        for (int j = 4; j < 14; ++j) f.values[j] = -1.f;
      im.faces.push_back(f);
    }
    v.push_back(im);
  }
  return v;
}

io::Image toy_decode(const std::string& path) {
  const int i = std::stoi(path.substr(4));
  io::Image img(80, 72, 3, io::ColorOrder::BGR, 0);
  for (int64_t p = 0; p < int64_t(img.width) * img.height * 3; ++p)
    img.data()[p] = static_cast<uint8_t>(127 + 100 * std::sin(0.01 * double(p) * (i + 1) + i));
  return img;
}

std::string temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("rfcf_detector_trainer_" + name);
  fs::remove_all(p);
  return p.string();
}

train::DetectorTrainOptions toy_options(const std::string& out, int64_t epochs) {
  train::DetectorTrainOptions o;
  o.loader.batch_size = 2;
  o.loader.workers = 2;
  o.loader.seed = 7;
  o.loader.augment.img_dim = 64;
  o.epochs = epochs;
  o.lr = 1e-3;
  o.decay_epochs = {1};  // the lr changes between the epochs
  o.accumulate = 2;      // 3 micro-batches per epoch: steps of 2 and 1
  o.progressive_epochs = 2;
  o.progressive_min_face = 16;
  o.out_dir = out;
  o.progress_interval_s = 1e9;
  static std::ostringstream sink;
  o.out = &sink;
  return o;
}

io::TensorMap weights_of(train::DetectorTrainer<>& t) { return nn::state_dict(t.network()); }

}  // namespace

TEST_CASE("Detector training: 2 epochs straight equal 1 + resume + 1", "[train][detector][resume]") {
  const std::string a = temp_dir("straight"), b = temp_dir("resumed");
  train::DetectorTrainer<> straight(toy_set(), toy_options(a, 2), toy_decode);
  const auto stats = straight.fit();
  REQUIRE(stats.size() == 2);
  CHECK(straight.step() == 4);  // 2 steps per epoch
  CHECK(stats[0].min_face == 16.0);
  CHECK(stats[1].min_face == 8.0);
  {
    train::DetectorTrainer<> first(toy_set(), toy_options(b, 1), toy_decode);
    first.fit();
  }
  train::DetectorTrainer<> resumed(toy_set(), toy_options(b, 2), toy_decode);
  resumed.resume();
  CHECK(resumed.epoch() == 1);
  CHECK(resumed.step() == 2);
  resumed.fit();

  const io::TensorMap wa = weights_of(straight), wb = weights_of(resumed);
  REQUIRE(wa.size() == wb.size());
  size_t compared = 0;
  for (const auto& [name, t] : wa) {
    INFO(name);
    const io::HostTensor* u = wb.find(name);
    REQUIRE(u != nullptr);
    CHECK(t.bytes == u->bytes);
    ++compared;
  }
  CHECK(compared == 300);
  CHECK(straight.optimizer().momentum_buffer().to_vector() == resumed.optimizer().momentum_buffer().to_vector());
  CHECK(straight.optimizer().steps() == resumed.optimizer().steps());
  // Training changed the weights (the comparison is not between untouched models).
  train::DetectorTrainer<> untouched(toy_set(), toy_options(temp_dir("untouched"), 1), toy_decode);
  CHECK(weights_of(untouched).at("BboxHead.0.conv1x1.weight").bytes != wa.at("BboxHead.0.conv1x1.weight").bytes);

  // Logs: the resumed run appended its epoch; the curve and the weights-only file exist.
  const auto ea = train::read_csv_table(a + "/epochs.csv"), eb = train::read_csv_table(b + "/epochs.csv");
  CHECK(ea.column("epoch") == std::vector<double>{1, 2});
  CHECK(eb.column("epoch") == std::vector<double>{1, 2});
  CHECK(ea.column("loss") == eb.column("loss"));
  CHECK(train::read_csv_table(b + "/log.csv").rows() == 4);
  CHECK(fs::file_size(b + "/loss_curve.png") > 1000);
  nn::load_safetensors(untouched.network(), b + "/model.safetensors");  // weights only, strict
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST_CASE("Detector training: a NaN loss stops training and keeps the last good checkpoint", "[train][detector][nan]") {
  const std::string out = temp_dir("nan");
  {
    train::DetectorTrainer<> t(toy_set(), toy_options(out, 1), toy_decode);
    t.fit();
  }
  const auto read = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string good = read(out + "/last.safetensors");
  REQUIRE(!good.empty());

  train::DetectorTrainer<> t(toy_set(), toy_options(out, 3), toy_decode);
  t.resume();
  // Poison one weight after the first step of epoch 2 (as a diverging run would): the next
  // forward gives a NaN loss.
  t.set_post_backward([](nn::FlatParameters<float, cpu>& p, int64_t step) {
    if (step == 2) p.values().data()[0] = std::numeric_limits<float>::quiet_NaN();
  });
  try {
    t.fit();
    FAIL("training went on with a NaN loss");
  } catch (const NumericError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("is NaN at step 3") != std::string::npos);
    CHECK(msg.find("last good checkpoint is " + out + "/last.safetensors (epoch 1)") != std::string::npos);
  }
  CHECK(read(out + "/last.safetensors") == good);
  train::DetectorTrainer<> again(toy_set(), toy_options(out, 3), toy_decode);
  again.resume();  // still loads
  CHECK(again.epoch() == 1);
  fs::remove_all(out);
}

TEST_CASE("ImageNet MobileNet-0.25 initialises the detector body strictly", "[train][detector][pretrained]") {
  const std::string tar = std::string(RFCF_SHARED_DIR) + "/models/mobilenetv1_025_imagenet.tar";
  models::RetinaFace<models::MobileNetV1025, cpu> net;
  const auto r = models::load_imagenet_backbone(net.body(), tar);
  CHECK(r.loaded == 162);  // 164 entries minus fc.weight and fc.bias
  CHECK(r.dropped == std::vector<std::string>{"fc.weight", "fc.bias"});
  const io::TensorMap sd = nn::state_dict(net);
  const io::TensorMap file = io::strip_prefix(io::find_state_dict(*io::load_torch(tar)));
  for (const char* key : {"stage1.0.0.weight", "stage3.1.4.running_var", "stage2.3.1.bias"}) {
    INFO(key);
    CHECK(sd.at(std::string("body.") + key).bytes == file.at(key).bytes);
  }
  CHECK(sd.at("body.stage1.0.1.num_batches_tracked").item<int64_t>() == 90090);
  // A checkpoint that is not a bare backbone (keys under body.*) is refused, naming keys.
  const std::string det = std::string(RFCF_SHARED_DIR) + "/models/retinaface_mnet025.pth";
  try {
    models::load_imagenet_backbone(net.body(), det);
    FAIL("a detector checkpoint loaded as a backbone");
  } catch (const nn::StateDictError& e) {
    CHECK(std::string(e.what()).find("missing keys") != std::string::npos);
    CHECK(std::string(e.what()).find("stage1.0.0.weight") != std::string::npos);
  }
}

TEST_CASE("Progressive schedule: threshold falls linearly; ignored faces are neither faces nor negatives",
          "[train][detector][progressive]") {
  train::DetectorTrainOptions o;
  o.progressive_epochs = 4;
  o.progressive_min_face = 20;
  CHECK(train::progressive_min_face(o, 0) == 20.0);
  CHECK(train::progressive_min_face(o, 2) == 10.0);
  CHECK(train::progressive_min_face(o, 3) == 5.0);
  CHECK(train::progressive_min_face(o, 4) == 0.0);
  o.progressive_epochs = 0;
  CHECK(train::progressive_min_face(o, 0) == 0.0);

  // One large face (kept) and one small face (ignored) in a 64x64 input.
  auto row = [](float x1, float y1, float s) {
    std::vector<float> r{x1, y1, x1 + s, y1 + s};
    for (int i = 0; i < 10; ++i) r.push_back(-1.f);
    r.push_back(-1.f);
    return r;
  };
  std::vector<float> faces = row(0.1f, 0.1f, 0.5f), small = row(0.7f, 0.7f, 0.2f);
  faces.insert(faces.end(), small.begin(), small.end());
  std::vector<float> kept, ignored;
  train::split_by_face_size(faces, 16.0 / 64.0, kept, ignored);
  CHECK(kept == row(0.1f, 0.1f, 0.5f));
  CHECK(ignored == small);

  detection::PriorCache priors(detection::PriorBoxOptions::official());
  const auto P = priors.get(64, 64);
  const int64_t A = P.dim(0);
  models::RetinaFaceOutput<float, cpu> pred{zeros<float, cpu>(Shape{1, A, 4}), zeros<float, cpu>(Shape{1, A, 2}),
                                            zeros<float, cpu>(Shape{1, A, 10})};
  // Priors overlapping the ignored face (IoU >= 0.35) are never mined.
  std::set<int64_t> near;
  for (int64_t p = 0; p < A; ++p) {
    const float* q = P.data() + 4 * p;
    const float pf[4] = {q[0] - q[2] / 2, q[1] - q[3] / 2, q[0] + q[2] / 2, q[1] + q[3] / 2};
    const float box[4] = {0.7f, 0.7f, 0.9f, 0.9f};
    if (detection::match_iou(box, pf) >= 0.35f) near.insert(p);
  }
  REQUIRE(!near.empty());
  // Face-like scores near the ignored face: the hardest negatives unless ignored.
  for (int64_t p = 0; p < A; ++p) pred.conf.data()[2 * p + 1] = near.count(p) ? 3.f : 0.01f * float(p % 7);
  detection::MultiBoxLoss<float, cpu> loss;
  const std::vector<std::vector<float>> tk{kept}, ti{ignored};
  const auto with = loss.forward(pred, tk, P, &ti);
  const auto neg_with = loss.negatives()[0];
  const auto without = loss.forward(pred, tk, P);
  const auto neg_without = loss.negatives()[0];
  CHECK(with.num_pos == without.num_pos);  // the small face made no positives
  bool some_near_mined_without = false;
  for (int64_t p : neg_without) some_near_mined_without |= near.count(p) != 0;
  for (int64_t p : neg_with) CHECK(near.count(p) == 0);
  CHECK(some_near_mined_without);  // the test can fail: without the ignore rule they are negatives
  CHECK(neg_with.size() == neg_without.size());
}

TEST_CASE("DetectionLoader shards: ranks partition the single-process stream", "[train][data][shard]") {
  data::DetectionLoaderOptions lo;
  lo.batch_size = 2;
  lo.workers = 1;
  lo.augment.img_dim = 32;
  std::vector<data::AnnotatedImage> set = toy_set();
  set.pop_back();  // 5 images: padded by wrapping to 6 over 2 ranks
  data::DetectionLoader single(set, lo, toy_decode), r0(set, lo, toy_decode), r1(set, lo, toy_decode);
  r0.shard(0, 2);
  r1.shard(1, 2);
  CHECK(r0.size() == 3);
  CHECK(r1.batches_per_epoch() == 2);
  const auto all = single.epoch_order(3), o0 = r0.epoch_order(3), o1 = r1.epoch_order(3);
  REQUIRE(o0.size() == 3);
  REQUIRE(o1.size() == 3);
  for (size_t k = 0; k < 3; ++k) {
    CHECK(o0[k] == all[2 * k]);
    CHECK(o1[k] == all[(2 * k + 1) % all.size()]);
  }
  // Same sample, same augmentation: rank 1's first image is the single loader's second.
  single.start_epoch(3);
  r1.start_epoch(3);
  const auto bs = single.next(), b1 = r1.next();
  REQUIRE(bs);
  REQUIRE(b1);
  const int64_t n = 3 * 32 * 32;
  CHECK(std::vector<float>(bs->images.data() + n, bs->images.data() + 2 * n) ==
        std::vector<float>(b1->images.data(), b1->images.data() + n));
  CHECK(bs->targets[1] == b1->targets[0]);
  CHECK_THROWS_AS(r1.shard(2, 2), ConfigError);
}

TEST_CASE("Detector training fp16: overflowed steps are skipped and the scaler state is checkpointed; bf16 trains",
          "[train][detector][mixed_precision]") {
  const std::string a = temp_dir("fp16"), b = temp_dir("bf16");
  auto o = toy_options(a, 1);
  o.precision = ComputePrecision::fp16;
  o.grad_scaler.init_scale = 1e30;  // every scaled gradient overflows fp16
  train::DetectorTrainer<> t(toy_set(), o, toy_decode);
  train::DetectorTrainer<> untouched(toy_set(), toy_options(temp_dir("untouched16"), 1), toy_decode);
  const auto stats = t.fit();
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].skipped_steps == 2);
  CHECK(t.step() == 2);
  CHECK(t.grad_scaler().scale() == 2.5e29);
  CHECK(t.optimizer().steps() == 0);
  CHECK(weights_of(t).at("BboxHead.0.conv1x1.weight").bytes ==
        weights_of(untouched).at("BboxHead.0.conv1x1.weight").bytes);
  auto o2 = toy_options(a, 2);
  o2.precision = ComputePrecision::fp16;
  train::DetectorTrainer<> resumed(toy_set(), o2, toy_decode);
  resumed.resume();
  CHECK(resumed.grad_scaler().scale() == 2.5e29);

  auto ob = toy_options(b, 1);
  ob.precision = ComputePrecision::bf16;
  train::DetectorTrainer<> tb(toy_set(), ob, toy_decode);
  const auto sb = tb.fit();
  CHECK(sb[0].skipped_steps == 0);
  CHECK(std::isfinite(sb[0].loss));
  CHECK(tb.optimizer().steps() == 2);
  CHECK(weights_of(tb).at("BboxHead.0.conv1x1.weight").bytes !=
        weights_of(untouched).at("BboxHead.0.conv1x1.weight").bytes);
  fs::remove_all(a);
  fs::remove_all(b);
}
