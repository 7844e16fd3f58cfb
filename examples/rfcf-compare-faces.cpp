// Are two photos the same person? detect (RetinaFace) -> largest-score face -> align to the
// 112x96 SphereFace template -> CASIA MobileFaceNet embedding (flip-concat) -> cosine vs threshold.
//   rfcf-compare-faces a.jpg b.jpg --detector ../shared/models/retinaface_mnet025.pth \
//       --weights ../shared/models/mobilefacenet_casia.ckpt [--threshold 0.29056] [--save-crops prefix]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "rfcf/cpu.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/io.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/recognition.hpp"

using namespace rfcf;

namespace {
// The aligned 112x96 crop of the most confident face (in the photo's channel order).
io::Image best_face_crop(detection::Detector<>& det, const io::Image& photo, const std::string& path) {
  const auto faces = det.detect(photo);
  check<Error>(!faces.empty(), "no face found in '", path, "'");
  const detection::Detection* best = &faces[0];
  for (const auto& f : faces)
    if (f.score > best->score) best = &f;
  int strong = 0;
  for (const auto& f : faces) strong += f.score >= 0.5f;
  if (strong > 1) std::fprintf(stderr, "%s: %d faces, using the most confident (score %.3f)\n", path.c_str(), strong, best->score);
  io::Image crop(96, 112, 3, photo.order);
  crop.pixels = recognition::align_face_112x96(photo.data(), photo.height, photo.width, 3, best->landmarks);
  return crop;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Compare the faces in two photos (same person or not)"};
  std::string a_path, b_path, detector = "../shared/models/retinaface_mnet025.pth",
                              weights = "../shared/models/mobilefacenet_casia.ckpt", crops;
  double threshold = 0.29056;  // best single P1 threshold on LFW (recognition.md 7.6)
  app.add_option("first", a_path, "first photo")->required();
  app.add_option("second", b_path, "second photo")->required();
  app.add_option("--detector", detector, "RetinaFace MobileNet-0.25 weights")->capture_default_str();
  app.add_option("--weights", weights, "CASIA MobileFaceNet weights (.ckpt or .safetensors)")->capture_default_str();
  app.add_option("--threshold", threshold, "cosine threshold: same person iff cosine > threshold")->capture_default_str();
  app.add_option("--save-crops", crops, "write the aligned crops to <prefix>_1.png and <prefix>_2.png");
  CLI11_PARSE(app, argc, argv);
  try {
    detection::Detector<> det(detector);
    models::MobileFaceNet<float, cpu> net;
    nn::load_weights(net, weights);
    auto o = recognition::EmbedderOptions::casia_mobilefacenet();
    o.crop_w = o.crop_h = 0;  // the crops are already 112x96
    recognition::Embedder<models::MobileFaceNet<float, cpu>> embedder(net, o);
    const io::Image a = best_face_crop(det, io::read_image(a_path), a_path);
    const io::Image b = best_face_crop(det, io::read_image(b_path), b_path);
    if (!crops.empty()) {
      io::write_png(crops + "_1.png", a);
      io::write_png(crops + "_2.png", b);
    }
    const Tensor<float, cpu> f = embedder.embed(std::vector<io::Image>{a, b});
    const double c = recognition::cosine_similarity(f.data(), f.data() + f.dim(1), f.dim(1));
    std::printf("cosine similarity %.4f, threshold %.4f: %s\n", c, threshold, c > threshold ? "SAME person" : "DIFFERENT people");
    return c > threshold ? 0 : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
