// Evaluates WIDER FACE result files (<pred>/<event>/<stem>.txt) against the val ground truth with
// the reference protocol and prints Easy / Medium / Hard AP.
//   widerface_eval --gt ../shared/widerface/ground_truth --pred results/ [--subset ../shared/widerface/val_subset/images]
//                  [--csv pr.csv] [--png pr.png] [--missing-empty]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "rfcf/detection.hpp"

int main(int argc, char** argv) {
  CLI::App app{"WIDER FACE evaluation (reference protocol)"};
  std::string gt_dir, pred_dir, subset, csv, png;
  bool missing_empty = false;
  app.add_option("--gt", gt_dir, "folder with wider_{face,easy,medium,hard}_val.mat")->required();
  app.add_option("--pred", pred_dir, "folder of result files <event>/<stem>.txt")->required();
  app.add_option("--subset", subset, "evaluate only these images: an image folder <event>/<stem>.jpg or a list file");
  app.add_option("--csv", csv, "write the precision/recall curves to this CSV file");
  app.add_option("--png", png, "plot the precision/recall curves into this PNG file");
  app.add_flag("--missing-empty", missing_empty, "treat images without a result file as having no detections");
  CLI11_PARSE(app, argc, argv);
  try {
    namespace fs = std::filesystem;
    using namespace rfcf::detection;
    WiderEvalOptions o;
    o.missing_is_empty = missing_empty;
    if (!subset.empty()) {
      if (fs::is_directory(subset)) {
        for (const auto& e : fs::recursive_directory_iterator(subset))
          if (e.is_regular_file() && e.path().extension() == ".jpg")
            o.subset.push_back(e.path().parent_path().filename().string() + "/" + e.path().stem().string());
      } else {
        std::ifstream in(subset);
        if (!in) throw rfcf::IoError("cannot open subset list '" + subset + "'");
        for (std::string line; std::getline(in, line);)
          if (!line.empty()) o.subset.push_back(line);
      }
    }
    const auto gt = load_wider_ground_truth(gt_dir);
    const auto pred = read_wider_predictions(pred_dir);
    const auto r = evaluate_widerface(gt, pred, o);
    std::printf("images %lld\n", static_cast<long long>(r.images));
    std::printf("Easy   Val AP: %.6f\nMedium Val AP: %.6f\nHard   Val AP: %.6f\n", r.ap[0], r.ap[1], r.ap[2]);
    if (!csv.empty()) write_pr_curves_csv(csv, r);
    if (!png.empty()) write_pr_curves_png(png, r);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "widerface_eval: %s\n", e.what());
    return 1;
  }
  return 0;
}
