// CUDA graphs: CapturedForward replays equal the eager forward exactly (RetinaFace-MobileNet0.25
// at 1x3x480x640, MobileFaceNet, IResNet-18), new input data gives new results, replays allocate
// nothing, graph memory stays private and alive, host synchronisation inside a capture is a
// clear error; Detector/Embedder with graphs equal them without, and the pipelined
// detect_stream/embed_stream equal detect_batch/embed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "cuda/detector_cpu.hpp"
#include "rfcf/cuda.cuh"
#include "rfcf/ops/cuda/sort.cuh"  // CUB: declares a global namespace cuda, hence rfcf::cuda below
#include "rfcf/detection/detector.hpp"
#include "rfcf/models.hpp"
#include "rfcf/recognition/embedder.hpp"

using namespace rfcf;
using Dev = rfcf::cuda;

namespace {
const std::string kShared = RFCF_SHARED_DIR;

Tensor<float, Dev> random_input(const Shape& s, uint64_t seed) {
  Tensor<float, Dev> t(s);
  Generator g(seed);
  init::uniform(t, g, -1.0, 1.0);
  return t;
}
void require_identical(const Tensor<float, Dev>& a, const Tensor<float, Dev>& b) {
  REQUIRE(a.shape() == b.shape());
  REQUIRE(a.to_vector() == b.to_vector());
}
void require_identical(const std::vector<detection::Detection>& a, const std::vector<detection::Detection>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].score == b[i].score);
    for (int k = 0; k < 4; ++k) REQUIRE(a[i].box[k] == b[i].box[k]);
    for (int k = 0; k < 10; ++k) REQUIRE(a[i].landmarks[k] == b[i].landmarks[k]);
  }
}

// Replays of a Tensor-returning net equal its eager forward, for two inputs, allocating nothing.
template <class Net>
void check_tensor_net(Net& net, const Shape& shape) {
  net.train(false);
  nn::NoGradGuard no_grad;
  const auto x1 = random_input(shape, 1), x2 = random_input(shape, 2);
  const auto ref1 = net.forward(x1).clone(), ref2 = net.forward(x2).clone();
  nn::CapturedForward<Net> fwd(net, shape);
  const auto y1 = fwd.run(x1);
  REQUIRE(fwd.captured());
  require_identical(y1, ref1);
  const size_t raw = Allocator<Dev>::stats().raw_allocations, graph_raw = cuda_rt::graph_pool_raw_allocations();
  fwd.input().copy_from(x2);
  const auto y2 = fwd.replay();
  require_identical(y2, ref2);
  CHECK(y2.shares_storage_with(y1));  // static outputs
  CHECK(Allocator<Dev>::stats().raw_allocations == raw);
  CHECK(cuda_rt::graph_pool_raw_allocations() == graph_raw);
}
}  // namespace

TEST_CASE("CUDA graph of RetinaFace-MobileNet0.25 1x3x480x640 equals the eager forward", "[cuda][graphs]") {
  models::RetinaFace<models::MobileNetV1025, Dev> net;
  net.train(false);
  const Shape shape{1, 3, 480, 640};
  const auto x1 = random_input(shape, 11), x2 = random_input(shape, 12);
  nn::NoGradGuard no_grad;
  const auto ref1 = net.forward(x1), ref2 = net.forward(x2);

  models::RetinaFaceOutput<float, Dev> kept;
  {
    nn::CapturedForward<decltype(net)> fwd(net, shape);
    const auto y1 = fwd.run(x1);
    require_identical(y1.loc, ref1.loc);
    require_identical(y1.conf, ref1.conf);
    require_identical(y1.landms, ref1.landms);
    REQUIRE(fwd.pool() != nullptr);
    CHECK(fwd.pool()->reserved_bytes() > 0);

    SECTION("a second replay with new input data, no allocation") {
      const size_t raw = Allocator<Dev>::stats().raw_allocations, graph_raw = cuda_rt::graph_pool_raw_allocations();
      for (int rep = 0; rep < 3; ++rep) {
        const auto y2 = fwd.run(rep % 2 ? x1 : x2);
        const auto& ref = rep % 2 ? ref1 : ref2;
        require_identical(y2.loc, ref.loc);
        require_identical(y2.conf, ref.conf);
        require_identical(y2.landms, ref.landms);
      }
      CHECK(Allocator<Dev>::stats().raw_allocations == raw);
      CHECK(cuda_rt::graph_pool_raw_allocations() == graph_raw);
    }
    SECTION("graph memory is never handed to other tensors") {
      // Activation-sized general tensors (first MobileNet stage: 8 x 240 x 320) survive replays.
      std::vector<Tensor<float, Dev>> probes;
      for (int k = 0; k < 8; ++k) probes.push_back(full<float, Dev>(Shape{1, 8 << (k % 3), 240 >> (k % 3), 320}, 7.f));
      (void)fwd.run(x2);
      (void)fwd.run(x1);
      for (const auto& p : probes) {
        const auto v = p.to_vector();
        REQUIRE(std::all_of(v.begin(), v.end(), [](float e) { return e == 7.f; }));
      }
    }
    SECTION("wrong input shape") { CHECK_THROWS_AS(fwd.run(random_input(Shape{1, 3, 480, 480}, 3)), ShapeError); }
    kept = y1;
  }
  // The graph is gone; its static outputs stay valid and private while referenced.
  require_identical(kept.loc, ref1.loc);
  require_identical(kept.landms, ref1.landms);
}

TEST_CASE("CUDA graph of the fused detector network equals its eager forward", "[cuda][graphs]") {
  models::RetinaFace<models::MobileNetV1025, Dev> net;
  net.train(false);
  net.fuse_for_inference();
  const Shape shape{2, 3, 96, 128};
  const auto x = random_input(shape, 21);
  nn::NoGradGuard no_grad;
  const auto ref = net.forward(x);
  nn::CapturedForward<decltype(net)> fwd(net, shape);
  const auto y = fwd.run(x);
  require_identical(y.loc, ref.loc);
  require_identical(y.conf, ref.conf);
  require_identical(y.landms, ref.landms);
}

TEST_CASE("CUDA graph of MobileFaceNet (cuBLAS inside the capture) equals the eager forward", "[cuda][graphs]") {
  models::MobileFaceNet<float, Dev> net;
  check_tensor_net(net, Shape{4, 3, 112, 96});
}

TEST_CASE("CUDA graph of IResNet-18 equals the eager forward", "[cuda][graphs]") {
  models::IResNetOptions o;
  o.depth = 18;
  o.embedding_size = 64;
  models::IResNet<float, Dev> net(o);
  check_tensor_net(net, Shape{2, 3, 112, 112});
}

namespace {
// A "network" that reads a scalar back to the host inside its forward: not capturable.
struct SyncingNet {
  using value_type = float;
  using device_type = Dev;
  Tensor<float, Dev> forward(const Tensor<float, Dev>& x) {
    return ops::scale(x, static_cast<float>(ops::sum(x)));
  }
};
}  // namespace

TEST_CASE("host synchronisation inside a capture is a clear error and leaves no capture behind", "[cuda][graphs]") {
  SyncingNet net;
  const Shape shape{1, 4};
  nn::CapturedForward<SyncingNet> fwd(net, shape);
  const auto x = random_input(shape, 31);
  try {
    (void)fwd.run(x);
    FAIL("capturing a forward that waits for the host must throw");
  } catch (const DeviceError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("captured into a CUDA graph") != std::string::npos);
  }
  CHECK_FALSE(fwd.captured());
  CHECK(cuda_rt::active_capture_pool() == nullptr);
  CHECK_FALSE(cuda_rt::is_capturing());
  require_identical(net.forward(x), net.forward(x));  // eager work still runs

  cuda_rt::Graph g;
  CHECK_THROWS_AS(g.capture(nullptr, [] {}), ConfigError);  // the legacy default stream
}

TEST_CASE("UploadStage<cuda> uploads pinned batches and grows", "[cuda][graphs]") {
  UploadStage<float, Dev> stage;
  for (int64_t n : {6, 2, 40}) {
    float* h = stage.host(Shape{n, 1});
    for (int64_t i = 0; i < n; ++i) h[i] = float(i * n);
    stage.upload();
    const auto t = stage.device();
    REQUIRE(t.shape() == Shape{n, 1});
    const auto v = t.to_vector();
    stage.done_reading();
    for (int64_t i = 0; i < n; ++i) REQUIRE(v[size_t(i)] == float(i * n));
  }
}

TEST_CASE("Detector<cuda> with CUDA graphs equals it without; detect_stream equals detect_batch",
          "[cuda][graphs][detection]") {
  using namespace rfcf::detection;
  const std::string weights = kShared + "/models/retinaface_mnet025.pth";
  DetectorOptions with, without;
  without.cuda_graphs = false;
  Detector<models::MobileNetV1025, Dev> graphs(weights, with), eager(weights, without);
  const std::vector<io::Image> images{test::read_image_on_cpu(kShared + "/images/kids.jpg"),
                                      test::read_image_on_cpu(kShared + "/images/wide.jpg"),
                                      test::read_image_on_cpu(kShared + "/images/kids.jpg")};
  for (size_t i = 0; i < 2; ++i) {
    const auto b = eager.detect(images[i]);
    REQUIRE(b.size() >= 8);
    require_identical(graphs.detect(images[i]), b);  // first sighting of the shape: eager
    require_identical(graphs.detect(images[i]), b);  // second: warm-up, capture, replay
    require_identical(graphs.detect(images[i]), b);  // replay
  }
  CHECK(graphs.captured_shapes() == 2);
  CHECK(eager.captured_shapes() == 0);
  require_identical(graphs.detect(images[0]), eager.detect(images[0]));  // replay of a cached graph

  const auto kids = eager.detect_batch({images[0]}), wide = eager.detect_batch({images[1]});
  const auto pair = eager.detect_batch({images[0], images[1]});
  for (auto* det : {&graphs, &eager}) {
    const auto s1 = det->detect_stream(images, 1);
    REQUIRE(s1.size() == 3);
    require_identical(s1[0], kids[0]);
    require_identical(s1[1], wide[0]);
    require_identical(s1[2], kids[0]);
    const auto s2 = det->detect_stream(images, 2);
    REQUIRE(s2.size() == 3);
    require_identical(s2[0], pair[0]);
    require_identical(s2[1], pair[1]);
    require_identical(s2[2], kids[0]);
  }
  CHECK_THROWS_AS(graphs.detect_stream({}, 2), ConfigError);
}

TEST_CASE("Embedder<cuda> with CUDA graphs equals it without; embed_stream equals embed", "[cuda][graphs]") {
  using namespace rfcf::recognition;
  models::MobileFaceNet<float, Dev> model;
  std::vector<io::Image> images;
  for (int k = 0; k < 5; ++k) {
    io::Image img(96, 112, 3, io::ColorOrder::RGB);
    for (int y = 0; y < 112; ++y)
      for (int x = 0; x < 96; ++x)
        for (int c = 0; c < 3; ++c) img.at(x, y)[c] = static_cast<uint8_t>((7 * x + 13 * y + 31 * c + 50 * k) % 256);
    images.push_back(img);
  }
  EmbedderOptions o;
  o.batch_size = 2;
  o.flip = FlipMode::sum;
  o.l2_normalize = true;
  EmbedderOptions eager_o = o;
  eager_o.cuda_graphs = false;
  Embedder<decltype(model)> with(model, o), without(model, eager_o);
  const auto a = with.embed(images), b = without.embed(images);
  REQUIRE(a.shape() == Shape{5, 128});
  REQUIRE(a.to_vector() == b.to_vector());
  CHECK(with.captured_shapes() == 1);  // groups of 2, 2, 1 images: only [4, 3, 112, 96] repeated
  REQUIRE(with.embed(images).to_vector() == b.to_vector());
  CHECK(with.captured_shapes() == 2);  // now [2, 3, 112, 96] too (x2 rows: flip)
  REQUIRE(with.embed_stream(images, 2).to_vector() == a.to_vector());
  REQUIRE(without.embed_stream(images, 2).to_vector() == a.to_vector());
  CHECK_THROWS_AS(with.embed_stream({}, 2), ConfigError);
}
