#pragma once
// Flags shared by the programs that run the detector (rfcf-detect, rfcf-align, rfcf-eval-widerface).
#include <CLI/CLI.hpp>

#include <string>

#include "rfcf/rfcf.hpp"

namespace rfcf::examples {

struct DetectorFlags {
  std::string weights;
  std::string backbone = "mobilenet0.25";
  std::string anchors = "official";
  std::string device = "cpu";
  float conf = 0.02f, nms = 0.4f;
  int64_t top_k = 5000, keep_top_k = 750, long_side = 0;
  int threads = 0;

  void add_to(CLI::App& app) {
    app.add_option("--weights", weights, "RetinaFace weights (.pth legacy/zip, or .safetensors)")->required();
    app.add_option("--backbone", backbone, "mobilenet0.25 | resnet50")->capture_default_str();
    app.add_option("--anchors", anchors,
                   "official (Pytorch_Retinaface: LeakyReLU 0.1, anchors 16-512) | 1mb (Face-Detector-1MB: ReLU, 10-256)")
        ->capture_default_str();
    app.add_option("--conf", conf, "confidence threshold (keep score > conf)")->capture_default_str();
    app.add_option("--nms", nms, "NMS IoU threshold")->capture_default_str();
    app.add_option("--top-k", top_k, "candidates kept before NMS (-1: all)")->capture_default_str();
    app.add_option("--keep-top-k", keep_top_k, "detections kept after NMS (-1: all)")->capture_default_str();
    app.add_option("--long-side", long_side, "resize so the long side has this length (0: original size)")
        ->capture_default_str();
    app.add_option("--device", device, "cpu (cuda: build the CUDA programs, see docs/cuda.md)")->capture_default_str();
    app.add_option("--threads", threads, "host threads (0: OpenMP default)");
  }

  detection::DetectorOptions options() const {
    check<ConfigError>(device == "cpu", "--device ", device,
                       ": this program is the CPU build; CUDA programs are built from examples/cuda with nvcc");
    if (threads > 0) set_num_threads(threads);
    detection::DetectorOptions o;
    if (backbone == "resnet50") o.model = models::RetinaFaceOptions::resnet50();
    else check<ConfigError>(backbone == "mobilenet0.25", "--backbone: unknown backbone '", backbone, "'");
    if (anchors == "1mb") {
      const auto m = models::RetinaFaceOptions::mobilenet025_1mb();
      o.model.min_sizes = m.min_sizes;
      o.model.backbone_slope = o.model.neck_slope = 0.0;
    } else {
      check<ConfigError>(anchors == "official", "--anchors: unknown family '", anchors, "'");
    }
    o.post.conf_threshold = conf;
    o.post.nms_threshold = nms;
    o.post.top_k = top_k;
    o.post.keep_top_k = keep_top_k;
    o.long_side = long_side;
    return o;
  }
};

// Runs f(detector) with the detector type the flags ask for.
template <class F>
void with_detector(const DetectorFlags& flags, F&& f) {
  const auto options = flags.options();
  if (flags.backbone == "resnet50") {
    detection::Detector<models::ResNet50, cpu> det(flags.weights, options);
    f(det);
  } else {
    detection::Detector<models::MobileNetV1025, cpu> det(flags.weights, options);
    f(det);
  }
}

}  // namespace rfcf::examples
