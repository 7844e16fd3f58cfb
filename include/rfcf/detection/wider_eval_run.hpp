#pragma once
// Runs a detector on a list of WIDER FACE images and scores the detections with the reference
// protocol (retinaface.md 11; only the listed images count, 11.6). Used by rfcf-train-detector's
// periodic evaluation; rfcf-eval-widerface does the same from the command line.
//   auto list = detection::read_image_list("split/heldout.txt");      // "<event>/<stem>.jpg" lines
//   auto r = detection::evaluate_wider_images(det, "val/images", list, gt);   r.ap = {easy, medium, hard}
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/detection/wider_results.hpp"
#include "rfcf/detection/widerface_eval.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::detection {

// Non-empty lines of a list file ("<event>/<stem>.jpg"; a leading '/' and trailing blanks removed).
inline std::vector<std::string> read_image_list(const std::string& path) {
  std::ifstream in(path);
  check<IoError>(in.good(), "cannot read image list '", path, "'");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty() && line[0] == '/') line.erase(0, 1);
    if (!line.empty()) out.push_back(line);
  }
  check<IoError>(!out.empty(), "image list '", path, "' is empty");
  return out;
}

// Detects on every listed image (<images_root>/<event>/<stem>.jpg) and evaluates. When
// `results_dir` is given the reference result files are written there too.
template <class Det>
WiderEvalResult evaluate_wider_images(Det& det, const std::string& images_root, const std::vector<std::string>& list,
                                      const WiderGroundTruth& gt, const std::string& results_dir = "") {
  namespace fs = std::filesystem;
  WiderPredictions preds;
  WiderEvalOptions eo;
  for (const std::string& rel_path : list) {
    const fs::path rel(rel_path);
    const std::string event = rel.parent_path().string(), stem = rel.stem().string();
    check<ConfigError>(!event.empty(), "WIDER image '", rel_path, "' must be <event>/<stem>.jpg");
    const auto faces = det.detect(io::read_image((fs::path(images_root) / rel).string(), io::ColorOrder::BGR));
    if (!results_dir.empty()) write_wider_result(results_dir, event, stem, faces);
    preds[event][stem] = wider_boxes_from_detections(faces);
    eo.subset.push_back(event + "/" + stem);
  }
  return evaluate_widerface(gt, preds, eo);
}

}  // namespace rfcf::detection
