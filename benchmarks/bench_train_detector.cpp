// Training-side benchmarks of RetinaFace-MobileNet0.25 (issue 5), paired with PyTorch anchors in the
// same run by benchmarks/run_train_bench.sh:
//   step   one SGD training step at batch B, 640x640: forward + MultiBoxLoss + backward + SGD
//          (anchor: benchmarks/python/train_step_torch.py, same synthetic input and faces);
//   loader DetectionLoader (decode + reference augmentation + batching) over shared/widerface/val_subset
//          (anchor: benchmarks/python/loader_torch.py, torch DataLoader with a numpy/cv2 port).
// Both report process CPU time per image (all threads; robust on a shared, loaded machine) and
// wall-clock images/s (meaningful only on a quiet machine).
//
//   bench_train_detector step SHARED BATCH IMG_DIM STEPS THREADS
//   bench_train_detector loader SHARED WORKERS BATCH IMG_DIM EPOCHS
//   bench_train_detector labels SHARED OUT_LABEL_TXT   (boxes-only label.txt of val_subset, for the anchor)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/rfcf.hpp"

using namespace rfcf;

namespace {

struct Clock {
  std::clock_t cpu = std::clock();
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu_s() const { return double(std::clock() - cpu) / CLOCKS_PER_SEC; }
  double wall_s() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(); }
};

// Same synthetic batch as train_step_torch.py: a smooth pattern in [-100, 100] and three faces per
// image (with landmarks) at fixed places that depend on the image index.
Tensor<float, cpu> synthetic_input(int64_t B, int64_t D) {
  Tensor<float, cpu> x(Shape{B, 3, D, D});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>(100.0 * std::sin(0.0007 * double(i)));
  return x;
}
std::vector<std::vector<float>> synthetic_faces(int64_t B) {
  std::vector<std::vector<float>> t(B);
  for (int64_t b = 0; b < B; ++b)
    for (int k = 0; k < 3; ++k) {
      const double s = 0.05 + 0.1 * k + 0.01 * double(b), x1 = 0.1 + 0.25 * k, y1 = 0.15 + 0.03 * double(b);
      std::vector<double> row{x1, y1, x1 + s, y1 + 1.2 * s};
      for (int l = 0; l < 5; ++l) row.push_back(x1 + s * (0.2 + 0.15 * l)), row.push_back(y1 + s * (0.4 + 0.1 * l));
      row.push_back(1.0);
      for (double v : row) t[b].push_back(static_cast<float>(v));
    }
  return t;
}

int bench_step(const std::string& shared, int64_t B, int64_t D, int steps, int threads) {
  set_num_threads(threads);
  models::RetinaFace<models::MobileNetV1025, cpu> net;
  nn::load_pytorch(net, shared + "/models/retinaface_mnet025.pth");
  net.train();
  nn::FlatParameters<float, cpu> params(net);
  train::SGD<float, cpu> sgd(params, train::SGDOptions{1e-3, 0.9, 0.0, 5e-4, false});
  detection::MultiBoxLoss<float, cpu> criterion;
  detection::PriorCache priors(detection::PriorBoxOptions::official());
  const auto x = synthetic_input(B, D);
  const auto targets = synthetic_faces(B);
  auto step = [&] {
    sgd.zero_grad();
    const auto pred = net.forward(x);
    const auto parts = criterion.forward(pred, targets, priors.get(D, D));
    net.backward(criterion.backward());
    sgd.step();
    return parts.total;
  };
  std::cout << "first loss " << step() << "\n";  // warm-up (allocator cache, priors)
  const size_t raw0 = Allocator<cpu>::stats().raw_allocations;
  std::vector<double> cpu_ms;
  Clock all;
  for (int i = 0; i < steps; ++i) {
    Clock c;
    step();
    cpu_ms.push_back(c.cpu_s() * 1e3 / double(B));
  }
  const double wall = all.wall_s();
  std::cout << "host pool: " << Allocator<cpu>::stats().raw_allocations - raw0 << " new blocks in the timed steps, peak "
            << Allocator<cpu>::stats().peak_bytes / (1 << 20) << " MiB\n";
  std::sort(cpu_ms.begin(), cpu_ms.end());
  std::cout << "RESULT step_cpu_ms_per_image " << cpu_ms[cpu_ms.size() / 2] << "\n";
  std::cout << "RESULT step_wall_images_per_s " << double(steps * B) / wall << "\n";
  return 0;
}

// val_subset images with their boxes from wider_face_val.mat.
std::string subset_label_text(const std::string& shared) {
  const std::string text =
      data::wider_mat_to_label_text(io::read_mat(shared + "/widerface/ground_truth/wider_face_val.mat"));
  const std::string root = shared + "/widerface/val_subset/images";
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  bool keep = false;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) keep = std::filesystem::is_regular_file(root + "/" + line.substr(2));
    if (keep) out << line << "\n";
  }
  return out.str();
}

int bench_loader(const std::string& shared, int workers, int64_t B, int D, int epochs) {
  std::istringstream in(subset_label_text(shared));
  data::WiderLabelSet set = data::parse_wider_labels(in, "val_subset", shared + "/widerface/val_subset/images");
  data::DetectionLoaderOptions o;
  o.workers = workers;
  o.batch_size = B;
  o.augment.img_dim = D;
  data::DetectionLoader loader(set.images, o);
  int64_t n = 0;
  Clock c;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch(e);
    while (auto batch = loader.next()) n += batch->images.dim(0);
  }
  loader.stop();
  std::cout << "images " << n << " (" << set.images.size() << " per epoch)\n";
  std::cout << "RESULT loader_cpu_ms_per_image " << c.cpu_s() * 1e3 / double(n) << "\n";
  std::cout << "RESULT loader_wall_images_per_s " << double(n) / c.wall_s() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::vector<std::string> a(argv + 1, argv + argc);
  auto arg = [&](size_t i, const char* def) { return i < a.size() ? a[i] : std::string(def); };
  const std::string mode = arg(0, "step"), shared = arg(1, "../shared");
  if (mode == "step")
    return bench_step(shared, std::stoi(arg(2, "8")), std::stoi(arg(3, "640")), std::stoi(arg(4, "5")),
                      std::stoi(arg(5, "1")));
  if (mode == "loader")
    return bench_loader(shared, std::stoi(arg(2, "1")), std::stoi(arg(3, "8")), std::stoi(arg(4, "640")),
                        std::stoi(arg(5, "1")));
  if (mode == "labels") {
    std::ofstream(arg(2, "val_subset_label.txt")) << subset_label_text(shared);
    return 0;
  }
  std::cerr << "usage: bench_train_detector step|loader|labels ...\n";
  return 2;
} catch (const std::exception& e) {
  std::cerr << "bench_train_detector: " << e.what() << "\n";
  return 1;
}
