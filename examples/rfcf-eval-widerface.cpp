// rfcf-eval-widerface: runs RetinaFace on WIDER FACE val images and scores it with the official
// protocol (easy/medium/hard AP, retinaface.md 11), optionally on a subset of images.
// Defaults are the reference WIDER test settings: original size, conf 0.02, NMS 0.4, no top-k caps.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "detector_cli.hpp"
#include "rfcf/rfcf.hpp"

namespace fs = std::filesystem;
using namespace rfcf;

namespace {

// "<event>/<stem>.jpg" paths: from --list, else every image under --images.
std::vector<std::string> image_list(const std::string& images, const std::string& list) {
  std::vector<std::string> out;
  if (!list.empty()) {
    std::ifstream in(list);
    check<IoError>(in.good(), "cannot read list ", list);
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty() && line[0] == '/') line.erase(0, 1);
      if (!line.empty()) out.push_back(line);
    }
  } else {
    for (const auto& e : fs::recursive_directory_iterator(images))
      if (e.is_regular_file() && e.path().extension() == ".jpg") out.push_back(fs::relative(e.path(), images).string());
  }
  std::sort(out.begin(), out.end());
  check<IoError>(!out.empty(), "no images to evaluate under ", images);
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"rfcf-eval-widerface: detect on WIDER FACE val images and compute Easy/Medium/Hard AP"};
  examples::DetectorFlags flags;
  flags.top_k = -1;
  flags.keep_top_k = -1;
  flags.add_to(app);
  std::string images, gt, out, list;
  app.add_option("--images", images, "WIDER_val/images folder (<event>/<stem>.jpg)")->required();
  app.add_option("--gt", gt, "folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat")->required();
  app.add_option("--out", out, "output folder: result files, pr_curves.csv, pr_curves.png")->required();
  app.add_option("--list", list, "evaluate only these images (one <event>/<stem>.jpg per line)");
  CLI11_PARSE(app, argc, argv);

  const auto files = image_list(images, list);
  const auto ground_truth = detection::load_wider_ground_truth(gt);
  detection::WiderPredictions preds;
  std::vector<std::string> subset;
  const auto start = std::chrono::steady_clock::now();
  examples::with_detector(flags, [&](auto& det) {
    for (size_t i = 0; i < files.size(); ++i) {
      const fs::path rel(files[i]);
      const std::string event = rel.parent_path().string(), stem = rel.stem().string();
      const auto faces = det.detect(io::read_image((fs::path(images) / rel).string(), io::ColorOrder::BGR));
      detection::write_wider_result((fs::path(out) / "results").string(), event, stem, faces);
      preds[event][stem] = detection::wider_boxes_from_detections(faces);
      subset.push_back(event + "/" + stem);
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = double(i + 1) / elapsed;
      std::cerr << "\r[" << (i + 1) << "/" << files.size() << "] " << std::fixed << std::setprecision(2) << rate
                << " img/s, ETA " << std::setprecision(0) << double(files.size() - i - 1) / rate << " s   " << std::flush;
    }
  });
  std::cerr << "\n";
  detection::WiderEvalOptions eo;
  eo.subset = subset;
  const auto r = detection::evaluate_widerface(ground_truth, preds, eo);
  fs::create_directories(out);
  detection::write_pr_curves_csv((fs::path(out) / "pr_curves.csv").string(), r);
  detection::write_pr_curves_png((fs::path(out) / "pr_curves.png").string(), r);
  std::cout << std::setprecision(4) << std::fixed << "images " << r.images << "\n"
            << "Easy   AP: " << r.ap[0] << "  (" << r.face_count[0] << " faces)\n"
            << "Medium AP: " << r.ap[1] << "  (" << r.face_count[1] << " faces)\n"
            << "Hard   AP: " << r.ap[2] << "  (" << r.face_count[2] << " faces)\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "rfcf-eval-widerface: error: " << e.what() << "\n";
  return 1;
}
