// MultiBoxLoss<float, cpu> at batch 8, 640x640 (16800 priors) on real WIDER val faces (boxes of
// shared/widerface/ground_truth/wider_face_val.mat normalised by 1024; every other image with
// landmarks): the host reference matcher (match_priors per image), the device-generic matcher
// on the cpu executor (match_on_device<float, cpu>, what MultiBoxLoss runs) and the whole
// forward. Process CPU time per batch, the minimum of 5 passes over BATCHES batches (robust on a
// loaded machine; run with OMP_NUM_THREADS=1 for the single-thread figures).
//
//   bench_multibox_cpu SHARED [BATCHES=100]
#include <algorithm>
#include <ctime>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/data/wider_labels.hpp"
#include "rfcf/detection/matching_device.hpp"
#include "rfcf/detection/multibox_loss.hpp"
#include "rfcf/detection/priors.hpp"
#include "rfcf/io/mat.hpp"

using namespace rfcf;

namespace {

std::vector<std::vector<float>> wider_faces(const std::string& shared) {
  const auto mat = io::read_mat(shared + "/widerface/ground_truth/wider_face_val.mat");
  std::istringstream in(data::wider_mat_to_label_text(mat));
  std::vector<std::vector<float>> images;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      images.emplace_back();
      continue;
    }
    std::istringstream l(line);
    float x, y, w, h;
    if (!(l >> x >> y >> w >> h)) continue;
    const float b[4] = {x / 1024, y / 1024, (x + w) / 1024, (y + h) / 1024};
    std::vector<float>& v = images.back();
    v.insert(v.end(), b, b + 4);
    const bool landmarks = images.size() % 2 == 1;
    for (int k = 0; k < 5; ++k) {
      v.push_back(landmarks ? (b[0] + b[2]) / 2 : -1.0f);
      v.push_back(landmarks ? (b[1] + b[3]) / 2 : -1.0f);
    }
    v.push_back(landmarks ? 1.0f : -1.0f);
  }
  return images;
}

// Minimum over 5 passes of the CPU seconds of f(batch) summed over the batches.
template <class F>
double min_cpu_ms_per_batch(int batches, F&& f) {
  double best = 1e30;
  for (int pass = 0; pass < 5; ++pass) {
    const std::clock_t c0 = std::clock();
    for (int it = 0; it < batches; ++it) f(it);
    best = std::min(best, double(std::clock() - c0) / CLOCKS_PER_SEC);
  }
  return best * 1e3 / batches;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string shared = argc > 1 ? argv[1] : "../shared";
  const int64_t B = 8, D = 640;
  const std::vector<std::vector<float>> images = wider_faces(shared);
  const int batches = std::min<int>(argc > 2 ? std::stoi(argv[2]) : 100, static_cast<int>(images.size() / B));
  auto batch = [&](int it) { return std::vector<std::vector<float>>(images.begin() + it * B, images.begin() + (it + 1) * B); };
  const auto priors = detection::make_priors(detection::PriorBoxOptions::official(), D, D);
  const int64_t A = priors.dim(0);
  int64_t faces = 0;
  for (int it = 0; it < batches; ++it)
    for (const auto& t : batch(it)) faces += static_cast<int64_t>(t.size()) / detection::kFaceFields;
  std::cout << "batches " << batches << " of " << B << ", " << faces << " faces, " << A << " priors\n";

  int64_t sink = 0;
  const double host = min_cpu_ms_per_batch(batches, [&](int it) {
    const auto t = batch(it);
    std::vector<float> l(B * A * 4), lm(B * A * 10);
    std::vector<int64_t> c(B * A);
    for (int64_t b = 0; b < B; ++b)
      detection::match_priors(t[b].data(), static_cast<int64_t>(t[b].size()) / detection::kFaceFields, priors.data(),
                              A, {}, l.data() + b * A * 4, lm.data() + b * A * 10, c.data() + b * A);
    sink += c[it];
  });
  const double device = min_cpu_ms_per_batch(batches, [&](int it) {
    const auto m = detection::match_on_device<float, cpu>(batch(it), priors);
    sink += m.conf.data()[it];
  });
  std::mt19937 g(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random = [&](Shape s) {
    Tensor<float, cpu> t(s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = normal(g);
    return t;
  };
  models::RetinaFaceOutput<float, cpu> pred{random(Shape{B, A, 4}), random(Shape{B, A, 2}), random(Shape{B, A, 10})};
  detection::MultiBoxLoss<float, cpu> loss;
  const double forward = min_cpu_ms_per_batch(batches, [&](int it) { sink += loss.forward(pred, batch(it), priors).num_pos; });
  std::cout << "RESULT match_priors_cpu_ms_per_batch " << host << "\n"
            << "RESULT match_on_device_cpu_ms_per_batch " << device << "\n"
            << "RESULT multibox_forward_cpu_ms_per_batch " << forward << "\n"
            << "(checksum " << sink << ")\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_multibox_cpu: " << e.what() << "\n";
  return 1;
}
