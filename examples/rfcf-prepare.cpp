// rfcf-prepare: raw photos (one sub-folder per identity) -> detect -> align -> an aligned
// ImageFolder or an insightface RecordIO dataset, with a CSV report of the images that had no
// face, several faces or could not be read.
//   rfcf-prepare raw/ aligned/                                   (ImageFolder, 112x112 JPEG)
//   rfcf-prepare raw/ data/train.rec --format recordio --size 112x96 --several-faces largest
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "detector_cli.hpp"
#include "rfcf/recognition/prepare.hpp"
#include "rfcf/train/progress.hpp"

using namespace rfcf;

#ifndef RFCF_SHARED_DIR
#define RFCF_SHARED_DIR "../shared"
#endif

namespace {

template <class Det>
recognition::PrepareSummary run(const std::string& input, const std::string& output,
                                const recognition::PrepareOptions& po, const examples::DetectorFlags& flags) {
  const detection::DetectorOptions det = flags.options();
  return recognition::prepare_dataset(input, output, po, [&] { return std::make_unique<Det>(flags.weights, det); });
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"rfcf-prepare: detect and align the faces of an identity-folder photo collection"};
  std::string input, output, format = "folder", size = "112x112", several = "skip";
  examples::DetectorFlags flags;
  flags.weights = std::string(RFCF_SHARED_DIR) + "/models/retinaface_mnet025.pth";
  recognition::PrepareOptions po;
  app.add_option("input", input, "folder with one sub-folder of photos (JPEG/PNG) per identity")->required();
  app.add_option("output", output, "output folder (--format folder) or <base>.rec (--format recordio)")->required();
  app.add_option("--format", format, "folder | recordio (.rec + .idx, label = identity index)")->capture_default_str();
  app.add_option("--size", size, "112x112 (ArcFace template) | 112x96 (SphereFace template, CASIA MobileFaceNet)")
      ->capture_default_str();
  app.add_option("--several-faces", several, "skip | largest | central: images with several faces")
      ->capture_default_str();
  app.add_option("--min-score", po.min_score, "detections with a lower score are not faces")->capture_default_str();
  app.add_option("--min-face-size", po.min_face_size, "nor detections whose box side is shorter (pixels)")
      ->capture_default_str();
  app.add_option("--encoding", po.encoding, "jpg | png (files or records)")->capture_default_str();
  app.add_option("--quality", po.jpeg_quality, "JPEG quality")->capture_default_str();
  app.add_option("--report", po.report_path,
                 "CSV report (default: <output>/prepare_report.csv, or <base>.report.csv for RecordIO)");
  app.add_option("--threads", po.threads, "images processed in parallel (0: all cores)")->capture_default_str();
  app.add_option("--detector", flags.weights, "RetinaFace weights (.pth or .safetensors)")->capture_default_str();
  app.add_option("--backbone", flags.backbone, "detector backbone: mobilenet0.25 | resnet50")->capture_default_str();
  app.add_option("--long-side", flags.long_side, "detect on images resized to this long side (0: original size)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  check<ConfigError>(size == "112x112" || size == "112x96", "--size: 112x112 or 112x96, got '", size, "'");
  po.narrow = size == "112x96";
  po.format = recognition::parse_prepare_format(format);
  po.several_faces = recognition::parse_several_faces(several);
  // Progress: images done, mean rate since the start and the ETA, at most every 5 s.
  const auto start = std::chrono::steady_clock::now();
  double last_print = -1e9;
  po.on_progress = [&](int64_t done, int64_t total) {
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done < total && t - last_print < 5.0) return;
    last_print = t;
    const double rate = t > 0 ? double(done) / t : 0.0;
    std::fprintf(stderr, "[prepare] %lld/%lld images | %.2f images/s | ETA %s\n", static_cast<long long>(done),
                 static_cast<long long>(total), rate,
                 train::format_duration(rate > 0 ? double(total - done) / rate : -1.0).c_str());
  };
  const auto s = flags.backbone == "resnet50"
                     ? run<detection::Detector<models::ResNet50, cpu>>(input, output, po, flags)
                     : run<detection::Detector<models::MobileNetV1025, cpu>>(input, output, po, flags);
  std::printf("images %lld: written %lld, no face %lld, several faces skipped %lld, several faces kept %lld, "
              "unreadable %lld\n",
              static_cast<long long>(s.images), static_cast<long long>(s.written), static_cast<long long>(s.no_face),
              static_cast<long long>(s.several_faces_skipped), static_cast<long long>(s.several_faces_kept),
              static_cast<long long>(s.unreadable));
  std::printf("identities: %lld in the input, %lld with at least one face (labels 0..%lld)\n",
              static_cast<long long>(s.input_identities), static_cast<long long>(s.identities.size()),
              static_cast<long long>(s.identities.size()) - 1);
  if (po.format == recognition::PrepareFormat::recordio)
    std::printf("wrote %s, %s and %s\n", s.rec_path.c_str(), s.idx_path.c_str(), s.identities_path.c_str());
  else
    std::printf("wrote %s\n", output.c_str());
  std::printf("report: %s\n", s.report_path.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "rfcf-prepare: error: " << e.what() << "\n";
  return 1;
}
