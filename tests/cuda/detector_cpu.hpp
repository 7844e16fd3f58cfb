#pragma once
// The cpu side of detection_test.cu (detector_cpu.cpp, compiled by the C++ compiler).
#include <string>
#include <vector>

#include "rfcf/detection/postprocess.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::test {

// Decoded here so that both devices see the same pixels (the cuda target may lack libjpeg).
io::Image read_image_on_cpu(const std::string& path);

// Detections of the fused MobileNet-0.25 RetinaFace on the cpu at the original image size.
std::vector<detection::Detection> detect_on_cpu(const std::string& weights, const std::string& image);

// Host post-processing of one image's head outputs (loc [n,4], conf [n,2], landms [n,10], priors [n,4]).
std::vector<detection::Detection> postprocess_on_cpu(const std::vector<float>& loc, const std::vector<float>& conf,
                                                     const std::vector<float>& landms,
                                                     const std::vector<float>& priors, int64_t width, int64_t height,
                                                     double resize);

// MultiBoxLoss on the cpu: loss parts {loc, conf, landm, total}, the gradients (loc, conf,
// landms concatenated) and the mined negatives per image.
struct MultiBoxRun {
  std::vector<double> parts;
  std::vector<float> grads;
  std::vector<std::vector<int64_t>> negatives;
};
MultiBoxRun multibox_on_cpu(int64_t batch, int64_t priors, const std::vector<float>& loc, const std::vector<float>& conf,
                            const std::vector<float>& landms, const std::vector<std::vector<float>>& targets,
                            const std::vector<float>& prior_boxes);

// match_priors (the host reference matcher) over a batch: targets of every image concatenated
// ([B, A, 4], [B, A, 10], [B, A], [B, A]).
struct MatchRun {
  std::vector<float> loc, landm;
  std::vector<int64_t> conf, best_truth;
};
MatchRun match_on_cpu(const std::vector<std::vector<float>>& targets, const std::vector<float>& prior_boxes,
                      bool guarded);

}  // namespace rfcf::test
