// rfcf-detect: detect faces (box, score, 5 landmarks) with RetinaFace; optionally draw them,
// write aligned crops and compute embeddings of the crops with MobileFaceNet.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "detector_cli.hpp"
#include "rfcf/rfcf.hpp"

namespace fs = std::filesystem;
using namespace rfcf;

namespace {

std::vector<std::string> list_images(const std::string& path) {
  if (!fs::is_directory(path)) return {path};
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    std::string ext = e.path().extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(c));
    if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  check<IoError>(!files.empty(), "no .jpg/.png images in ", path);
  return files;
}

// Embedding of an aligned 112x96 RGB crop: concat(f(x), f(flip(x))), L2-normalised
// (the protocol of the CASIA MobileFaceNet, recognition.md 7.5).
std::vector<float> embed(models::MobileFaceNet<float, cpu>& net, const io::Image& crop_rgb) {
  const std::array<float, 3> mean{127.5f, 127.5f, 127.5f}, scale{1 / 128.f, 1 / 128.f, 1 / 128.f};
  Tensor<float, cpu> a = io::to_tensor(crop_rgb, mean, scale), b = io::to_tensor(io::flip_horizontal(crop_rgb), mean, scale);
  Tensor<float, cpu> batch = ops::concat_channels<float, cpu>({a.reshape(Shape{1, 3 * 112 * 96}), b.reshape(Shape{1, 3 * 112 * 96})});
  nn::NoGradGuard no_grad;
  auto f = net.forward(batch.reshape(Shape{2, 3, 112, 96})).to_vector();
  double norm = 0;
  for (float v : f) norm += double(v) * v;
  norm = std::sqrt(std::max(norm, 1e-24));
  for (float& v : f) v = static_cast<float>(v / norm);
  return f;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"rfcf-detect: RetinaFace face detection with 5 landmarks (boxes, scores, landmarks as JSON)"};
  examples::DetectorFlags flags;
  flags.add_to(app);
  std::string image, json_out, annotated, aligned_dir, embed_weights, aligned_size = "112x112";
  float min_score = 0.5f;
  app.add_option("--image", image, "an image file or a folder of images")->required();
  app.add_option("--json", json_out, "output JSON (an object for one image, an array for a folder)")->required();
  app.add_option("--annotated", annotated, "annotated PNG/JPEG (one image) or folder (several images)");
  app.add_option("--aligned-dir", aligned_dir, "write aligned crops of faces with score >= --min-score here");
  app.add_option("--aligned-size", aligned_size, "112x112 (ArcFace template) | 112x96 (SphereFace template)")
      ->capture_default_str();
  app.add_option("--embed-weights", embed_weights,
                 "MobileFaceNet (CASIA layout) weights: add a 256-d embedding per face with score >= --min-score");
  app.add_option("--min-score", min_score, "score for drawing, aligning and embedding")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  check<ConfigError>(aligned_size == "112x112" || aligned_size == "112x96", "--aligned-size: 112x112 or 112x96");

  std::optional<models::MobileFaceNet<float, cpu>> embedder;
  if (!embed_weights.empty()) {
    embedder.emplace();
    nn::load_pytorch(*embedder, embed_weights, {.strict = true, .ignore_counters = true});
    embedder->eval();
  }
  const auto files = list_images(image);
  nlohmann::json all = nlohmann::json::array();
  examples::with_detector(flags, [&](auto& det) {
    for (const auto& file : files) {
      const auto t0 = std::chrono::steady_clock::now();
      const io::Image img = io::read_image(file, io::ColorOrder::BGR);
      const auto faces = det.detect(img);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      detection::ImageDetections out{fs::path(file).filename().string(), img.width, img.height, faces};
      nlohmann::json j = detection::to_json(out);
      const std::string stem = fs::path(file).stem().string();
      int strong = 0;
      for (size_t i = 0; i < faces.size(); ++i) {
        if (faces[i].score < min_score) continue;
        ++strong;
        if (aligned_dir.empty() && !embedder) continue;
        const bool narrow = aligned_size == "112x96" || embedder;
        std::vector<uint8_t> px = narrow ? recognition::align_face_112x96(img.data(), img.height, img.width, 3, faces[i].landmarks)
                                         : recognition::align_face(img.data(), img.height, img.width, 3, faces[i].landmarks);
        io::Image crop(narrow ? 96 : 112, 112, 3, io::ColorOrder::BGR);
        crop.pixels = std::move(px);
        if (!aligned_dir.empty()) {
          fs::create_directories(aligned_dir);
          io::write_png((fs::path(aligned_dir) / (stem + "_face" + std::to_string(i) + ".png")).string(), crop);
        }
        if (embedder) j["faces"][i]["embedding"] = embed(*embedder, io::to_rgb(crop));
      }
      std::cerr << file << ": " << faces.size() << " detections, " << strong << " with score >= " << min_score << " ("
                << ms << " ms)\n";
      if (!annotated.empty()) {
        io::Image canvas = img;
        std::vector<std::array<float, 4>> boxes;
        std::vector<float> scores;
        std::vector<std::array<float, 10>> landmarks;
        for (const auto& f : faces) {
          if (f.score < min_score) continue;
          boxes.push_back({f.box[0], f.box[1], f.box[2], f.box[3]});
          scores.push_back(f.score);
          std::array<float, 10> l;
          std::copy_n(f.landmarks, 10, l.begin());
          landmarks.push_back(l);
        }
        io::draw_detections(canvas, boxes, scores, landmarks);
        std::string path = annotated;
        if (files.size() > 1) {
          fs::create_directories(annotated);
          path = (fs::path(annotated) / (stem + ".png")).string();
        }
        const std::string ext = fs::path(path).extension().string();
        if (ext == ".jpg" || ext == ".jpeg") io::write_jpeg(path, canvas);
        else io::write_png(path, canvas);
      }
      all.push_back(std::move(j));
    }
  });
  io::atomic_write(json_out, (files.size() == 1 ? all[0] : all).dump(1) + "\n");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "rfcf-detect: error: " << e.what() << "\n";
  return 1;
}
