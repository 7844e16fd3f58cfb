// Process-CPU-time benchmark of RetinaFace inference on one thread (robust on a shared, loaded
// machine where wall-clock timings are not). Pair with benchmarks/python/cpu_time_anchor.py,
// which measures PyTorch and OpenCV DNN the same way; benchmarks/run_cpu_time.sh prints the table.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <vector>

#include "rfcf/rfcf.hpp"

using namespace rfcf;

namespace {
template <class F>
double median_cpu_ms(F&& f, int repeats) {
  f();  // warm-up: allocator cache, priors
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const std::clock_t c0 = std::clock();
    f();
    t.push_back(double(std::clock() - c0) * 1000.0 / CLOCKS_PER_SEC);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  set_num_threads(1);
  const std::string shared = argc > 1 ? argv[1] : "../shared";
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 5;
  detection::Detector<> det(shared + "/models/retinaface_mnet025.pth");
  nn::NoGradGuard no_grad;
  for (auto [w, h] : {std::pair{640, 480}, std::pair{1024, 768}, std::pair{1600, 898}}) {
    Tensor<float, cpu> x(Shape{1, 3, h, w});
    Generator g(1);
    init::uniform(x, g, -100.0, 100.0);
    std::cout << "RESULT forward_" << w << "x" << h << " "
              << median_cpu_ms([&] { det.network().forward(x); }, repeats) << "\n";
    if (w == 640) {
      models::MobileNetV1025<float, cpu> body;
      body.train(false);
      body.fuse_for_inference();
      std::cout << "RESULT backbone_640x480 " << median_cpu_ms([&] { body.forward(x); }, repeats) << "\n";
    }
  }
  for (const std::string name : {"kids", "wide"}) {
    const std::string path = shared + "/images/" + name + ".jpg";
    std::cout << "RESULT detect_e2e_" << name << " "
              << median_cpu_ms([&] { det.detect(io::read_image(path, io::ColorOrder::BGR)); }, repeats) << "\n";
  }
  // NMS on wide.jpg's candidates (score > 0.02, top 5000), as the reference post-processing.
  const io::Image wide = io::read_image(shared + "/images/wide.jpg", io::ColorOrder::BGR);
  auto out = det.network().forward(detection::retinaface_input(wide, 1.0));
  Tensor<float, cpu> conf = ops::softmax(out.conf);
  const auto& priors = det.priors(wide.height, wide.width);
  std::vector<int64_t> cand;
  for (int64_t i = 0; i < conf.dim(1); ++i)
    if (conf.data()[2 * i + 1] > 0.02f) cand.push_back(i);
  std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) { return conf.data()[2 * a + 1] > conf.data()[2 * b + 1]; });
  cand.resize(std::min<size_t>(cand.size(), 5000));
  std::vector<float> boxes(cand.size() * 4);
  for (size_t c = 0; c < cand.size(); ++c) {
    detection::decode_box(priors.data() + 4 * cand[c], out.loc.data() + 4 * cand[c], boxes.data() + 4 * c, {});
    boxes[4 * c] *= wide.width, boxes[4 * c + 1] *= wide.height, boxes[4 * c + 2] *= wide.width, boxes[4 * c + 3] *= wide.height;
  }
  std::cout << "RESULT nms_wide_" << cand.size() << " "
            << median_cpu_ms([&] { detection::nms_plus_one(boxes.data(), int64_t(cand.size()), 4, 0.4f); }, repeats) << "\n";
}
