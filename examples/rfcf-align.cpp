// rfcf-align: detect faces and write each one aligned to the 112x112 ArcFace template or the
// 112x96 SphereFace template (5-point similarity transform, bilinear warp).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "detector_cli.hpp"
#include "rfcf/rfcf.hpp"

namespace fs = std::filesystem;
using namespace rfcf;

int main(int argc, char** argv) try {
  CLI::App app{"rfcf-align: write aligned face crops (detection + 5-point alignment)"};
  examples::DetectorFlags flags;
  flags.add_to(app);
  std::string image, out_dir, size = "112x112";
  float min_score = 0.5f;
  app.add_option("--image", image, "input image")->required();
  app.add_option("--out", out_dir, "output folder for <stem>_face<i>.png")->required();
  app.add_option("--size", size, "112x112 (ArcFace) | 112x96 (SphereFace)")->capture_default_str();
  app.add_option("--min-score", min_score, "align faces with at least this score")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  check<ConfigError>(size == "112x112" || size == "112x96", "--size: 112x112 or 112x96");
  const io::Image img = io::read_image(image, io::ColorOrder::BGR);
  fs::create_directories(out_dir);
  int written = 0;
  examples::with_detector(flags, [&](auto& det) {
    const auto faces = det.detect(img);
    for (size_t i = 0; i < faces.size(); ++i) {
      if (faces[i].score < min_score) continue;
      const bool narrow = size == "112x96";
      io::Image crop(narrow ? 96 : 112, 112, 3, io::ColorOrder::BGR);
      crop.pixels = narrow ? recognition::align_face_112x96(img.data(), img.height, img.width, 3, faces[i].landmarks)
                           : recognition::align_face(img.data(), img.height, img.width, 3, faces[i].landmarks);
      io::write_png((fs::path(out_dir) / (fs::path(image).stem().string() + "_face" + std::to_string(i) + ".png")).string(), crop);
      ++written;
    }
  });
  std::cerr << "wrote " << written << " aligned faces to " << out_dir << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "rfcf-align: error: " << e.what() << "\n";
  return 1;
}
