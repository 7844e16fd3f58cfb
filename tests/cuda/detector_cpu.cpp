#include "cuda/detector_cpu.hpp"

#include "rfcf/cpu.hpp"
#include "rfcf/detection.hpp"

namespace rfcf::test {

io::Image read_image_on_cpu(const std::string& path) { return io::read_image(path); }

std::vector<detection::Detection> detect_on_cpu(const std::string& weights, const std::string& image) {
  detection::Detector<models::MobileNetV1025, cpu> detector(weights);
  return detector.detect(read_image_on_cpu(image));
}

std::vector<detection::Detection> postprocess_on_cpu(const std::vector<float>& loc, const std::vector<float>& conf,
                                                     const std::vector<float>& landms,
                                                     const std::vector<float>& priors, int64_t width, int64_t height,
                                                     double resize) {
  const int64_t n = static_cast<int64_t>(priors.size() / 4);
  return detection::postprocess(loc.data(), conf.data(), landms.data(), priors.data(), n, width, height, resize);
}

MultiBoxRun multibox_on_cpu(int64_t batch, int64_t priors, const std::vector<float>& loc, const std::vector<float>& conf,
                            const std::vector<float>& landms, const std::vector<std::vector<float>>& targets,
                            const std::vector<float>& prior_boxes) {
  models::RetinaFaceOutput<float, cpu> pred{Tensor<float, cpu>::from_host(Shape{batch, priors, 4}, loc),
                                            Tensor<float, cpu>::from_host(Shape{batch, priors, 2}, conf),
                                            Tensor<float, cpu>::from_host(Shape{batch, priors, 10}, landms)};
  detection::MultiBoxLoss<float, cpu> loss;
  const auto parts = loss.forward(pred, targets, Tensor<float, cpu>::from_host(Shape{priors, 4}, prior_boxes));
  const auto g = loss.backward();
  MultiBoxRun r;
  r.parts = {parts.loc, parts.conf, parts.landm, parts.total};
  for (const auto* t : {&g.loc, &g.conf, &g.landms}) {
    const auto v = t->to_vector();
    r.grads.insert(r.grads.end(), v.begin(), v.end());
  }
  r.negatives = loss.negatives();
  return r;
}

MatchRun match_on_cpu(const std::vector<std::vector<float>>& targets, const std::vector<float>& prior_boxes,
                      bool guarded) {
  const int64_t A = static_cast<int64_t>(prior_boxes.size() / 4), B = static_cast<int64_t>(targets.size());
  MatchRun r{std::vector<float>(B * A * 4), std::vector<float>(B * A * 10), std::vector<int64_t>(B * A),
             std::vector<int64_t>(B * A)};
  detection::MatchOptions o;
  o.guarded = guarded;
  for (int64_t b = 0; b < B; ++b)
    detection::match_priors(targets[b].data(), static_cast<int64_t>(targets[b].size()) / detection::kFaceFields,
                            prior_boxes.data(), A, o, r.loc.data() + b * A * 4, r.landm.data() + b * A * 10,
                            r.conf.data() + b * A, r.best_truth.data() + b * A);
  return r;
}

}  // namespace rfcf::test
