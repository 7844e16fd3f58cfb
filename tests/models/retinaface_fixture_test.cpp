// RetinaFace-MobileNet0.25 with the official weights against the golden fixtures made by an
// independent PyTorch reference (shared/fixtures/retinaface, spec retinaface.md 14).
#include <catch2/catch.hpp>

#include <cmath>

#include "rfcf/detection/detector.hpp"
#include "rfcf/rfcf.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using Net = models::RetinaFace<models::MobileNetV1025, cpu>;

namespace {
const std::string kShared = RFCF_SHARED_DIR;

Tensor<float, cpu> fixture(const io::TensorMap& m, const std::string& name) {
  return m.at(name).to_tensor<float, cpu>();
}

// Compares a [1, ...] network tensor with a fixture stored without the batch axis.
void require_close(const Tensor<float, cpu>& ours, const Tensor<float, cpu>& ref, const std::string& what,
                   double tol = 1e-4) {
  REQUIRE(ours.numel() == ref.numel());
  const double err = rfcf::testing::relative_error(ours.to_vector().data(), ref.to_vector().data(), ref.numel());
  INFO(what << ": relative error " << err);
  CHECK(err < tol);
}
}  // namespace

TEST_CASE("RetinaFace reproduces the 320x240 layer fixture", "[models][fixture]") {
  Net net;
  nn::load_pytorch(net, kShared + "/models/retinaface_mnet025.pth");
  net.eval();
  nn::NoGradGuard no_grad;
  const io::TensorMap fx = io::read_safetensors(kShared + "/fixtures/retinaface/kids_320x240_layers.safetensors");
  Tensor<float, cpu> x = fixture(fx, "input");
  x = x.reshape(Shape{1, x.dim(0), x.dim(1), x.dim(2)});
  models::RetinaFaceTrace<float, cpu> trace;
  auto out = net.forward(x, &trace);
  for (int i = 0; i < 3; ++i) {
    require_close(trace.body[i], fixture(fx, "body.stage" + std::to_string(i + 1)), "body.stage" + std::to_string(i + 1));
    require_close(trace.fpn[i], fixture(fx, "fpn.out" + std::to_string(i + 1)), "fpn.out" + std::to_string(i + 1));
    require_close(trace.ssh[i], fixture(fx, "ssh" + std::to_string(i + 1)), "ssh" + std::to_string(i + 1));
  }
  require_close(out.loc, fixture(fx, "loc"), "loc");
  require_close(ops::softmax(out.conf), fixture(fx, "conf"), "conf");
  require_close(out.landms, fixture(fx, "landms"), "landms");
}

TEST_CASE("inference fusion gives the same outputs as the plain network", "[models][fixture]") {
  Net plain, fused;
  nn::load_pytorch(plain, kShared + "/models/retinaface_mnet025.pth");
  nn::load_pytorch(fused, kShared + "/models/retinaface_mnet025.pth");
  plain.eval();
  fused.fuse_for_inference();
  const io::TensorMap fx = io::read_safetensors(kShared + "/fixtures/retinaface/kids_320x240_layers.safetensors");
  Tensor<float, cpu> x = fixture(fx, "input");
  x = x.reshape(Shape{1, x.dim(0), x.dim(1), x.dim(2)});
  {
    nn::NoGradGuard no_grad;
    auto a = plain.forward(x), b = fused.forward(x);
    require_close(b.loc, a.loc, "fused loc", 1e-5);
    require_close(b.conf, a.conf, "fused conf", 1e-5);
    require_close(b.landms, a.landms, "fused landms", 1e-5);
  }
  // A fused network refuses to train or to run with gradients.
  REQUIRE_THROWS_AS(fused.forward(x), ConfigError);
  REQUIRE_THROWS_AS(fused.train(true), ConfigError);
}

TEST_CASE("legacy and zip checkpoints load to identical networks", "[models][io]") {
  Net a, b;
  nn::load_pytorch(a, kShared + "/models/retinaface_mnet025.pth");
  nn::load_pytorch(b, kShared + "/models/retinaface_mnet025_zip.pth");
  const io::TensorMap sa = nn::state_dict(a), sb = nn::state_dict(b);
  REQUIRE(sa.size() == 300);
  for (const auto& [name, t] : sa) REQUIRE(t.bytes == sb.at(name).bytes);
}

TEST_CASE("a wrong activation family is visible in the outputs", "[models][fixture]") {
  // The 1MB settings (ReLU) on the official weights must NOT reproduce the fixture.
  Net net(models::RetinaFaceOptions::mobilenet025_1mb());
  nn::load_pytorch(net, kShared + "/models/retinaface_mnet025.pth");
  net.eval();
  nn::NoGradGuard no_grad;
  const io::TensorMap fx = io::read_safetensors(kShared + "/fixtures/retinaface/kids_320x240_layers.safetensors");
  Tensor<float, cpu> x = fixture(fx, "input");
  auto out = net.forward(x.reshape(Shape{1, x.dim(0), x.dim(1), x.dim(2)}));
  const Tensor<float, cpu> ref = fixture(fx, "loc");
  REQUIRE(rfcf::testing::relative_error(out.loc.to_vector().data(), ref.to_vector().data(), ref.numel()) > 1e-2);
}

TEST_CASE("full-size raw outputs and detections on kids.jpg match the reference", "[models][fixture]") {
  detection::Detector<> det(kShared + "/models/retinaface_mnet025.pth");
  const io::Image img = io::read_image(kShared + "/images/kids.jpg", io::ColorOrder::BGR);
  {
    nn::NoGradGuard no_grad;
    auto out = det.network().forward(detection::retinaface_input(img, 1.0));
    const io::TensorMap fx = io::read_safetensors(kShared + "/fixtures/retinaface/kids_raw.safetensors");
    // libjpeg-turbo decodes exactly as OpenCV did for the fixture (measured error ~3e-6);
    // the stb fallback differs by a few grey levels, which costs about 2e-3.
    const double tol = io::have_libjpeg() ? 1e-4 : 2e-3;
    require_close(out.loc, fixture(fx, "loc"), "loc", tol);
    require_close(ops::softmax(out.conf), fixture(fx, "conf"), "conf", tol);
    require_close(out.landms, fixture(fx, "landms"), "landms", tol);
    require_close(det.priors(img.height, img.width), fixture(fx, "priors"), "priors", 1e-7);
  }
}

TEST_CASE("detections on kids.jpg and wide.jpg match the reference JSON", "[models][fixture]") {
  detection::Detector<> det(kShared + "/models/retinaface_mnet025.pth");
  for (const std::string name : {"kids", "wide"}) {
    const io::Image img = io::read_image(kShared + "/images/" + name + ".jpg", io::ColorOrder::BGR);
    const auto ours = det.detect(img);
    const auto ref = detection::read_detections_json(kShared + "/fixtures/retinaface/" + name + "_detections.json");
    size_t strong = 0;
    for (const auto& r : ref.faces) {
      if (r.score < 0.5f) continue;
      ++strong;
      // The best-overlapping detection of ours must be the same face.
      double best_iou = 0;
      const detection::Detection* match = nullptr;
      for (const auto& o : ours) {
        const double iw = std::min(o.box[2], r.box[2]) - std::max(o.box[0], r.box[0]);
        const double ih = std::min(o.box[3], r.box[3]) - std::max(o.box[1], r.box[1]);
        if (iw <= 0 || ih <= 0) continue;
        const double inter = iw * ih;
        const double iou = inter / ((o.box[2] - o.box[0]) * (o.box[3] - o.box[1]) +
                                    (r.box[2] - r.box[0]) * (r.box[3] - r.box[1]) - inter);
        if (iou > best_iou) best_iou = iou, match = &o;
      }
      INFO(name << " face at " << r.box[0] << "," << r.box[1] << " score " << r.score);
      REQUIRE(match != nullptr);
      CHECK(best_iou > 0.99);
      CHECK(std::abs(match->score - r.score) < 1e-3);
      for (int k = 0; k < 10; ++k) CHECK(std::abs(match->landmarks[k] - r.landmarks[k]) < 0.5);
    }
    size_t ours_strong = 0;
    for (const auto& o : ours) ours_strong += o.score >= 0.5f;
    INFO(name);
    CHECK(ours_strong == strong);
    CHECK(strong == (name == "kids" ? 8u : 413u));
  }
}
