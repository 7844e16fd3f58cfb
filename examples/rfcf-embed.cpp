// Embeddings of aligned face crops, written as safetensors: "embeddings" [N, d] float32 and the
// image paths (one per row) in the metadata entry "paths" (newline separated).
//   rfcf-embed --weights ../shared/models/mobilefacenet_casia.ckpt --out emb.safetensors crops/*.jpg
//   rfcf-embed --list files.txt --crop-x 0 --crop-w 96 --flip concat --normalize ...
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/io.hpp"
#include "rfcf/models/iresnet.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/train/progress.hpp"

using namespace rfcf;

namespace {
struct Args {
  std::vector<std::string> files;
  std::string list, weights, model = "mobilefacenet-casia", out, flip = "concat";
  int crop_x = 0, crop_y = 0, crop_w = 96, crop_h = 0, batch = 64;
  float mean = 127.5f, scale = 1.f / 128.f;
  bool normalize = false;
};

template <class Model>
int run(Model& model, const Args& a) {
  if (!a.weights.empty()) {
    nn::load_weights(model, a.weights);
  }
  nn::fuse_for_inference(model);  // batch norms folded into the convolutions: inference only
  recognition::EmbedderOptions o;
  o.crop_x = a.crop_x, o.crop_y = a.crop_y, o.crop_w = a.crop_w, o.crop_h = a.crop_h;
  o.mean = {a.mean, a.mean, a.mean};
  o.scale = {a.scale, a.scale, a.scale};
  o.flip = recognition::parse_flip_mode(a.flip);
  o.l2_normalize = a.normalize;
  o.batch_size = a.batch;
  recognition::Embedder<Model> e(model, o);
  const int64_t n = static_cast<int64_t>(a.files.size());
  const int64_t steps = (n + a.batch - 1) / a.batch;
  train::ProgressReporter progress({.total_steps = steps, .min_interval_s = 5.0, .prefix = "embed"});
  Tensor<float, cpu> all;
  std::string paths;
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<io::Image> batch;
    for (int64_t i = s * a.batch; i < std::min(n, (s + 1) * a.batch); ++i) {
      batch.push_back(io::read_image(a.files[static_cast<size_t>(i)]));
      paths += a.files[static_cast<size_t>(i)] + "\n";
    }
    const Tensor<float, cpu> f = e.embed(batch);
    if (s == 0) all = Tensor<float, cpu>(Shape{n, f.dim(1)});
    std::copy(f.data(), f.data() + f.numel(), all.data() + s * a.batch * f.dim(1));
    progress.update(s, static_cast<int64_t>(batch.size()));
  }
  io::TensorMap tm;
  tm.set("embeddings", io::HostTensor::from_tensor(all));
  io::write_safetensors(a.out, tm, {{"paths", paths}, {"model", a.model}, {"flip", a.flip}});
  std::printf("%lld embeddings of dimension %lld written to %s\n", static_cast<long long>(n),
              static_cast<long long>(all.dim(1)), a.out.c_str());
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Embed aligned face crops into a safetensors file"};
  Args a;
  app.add_option("images", a.files, "aligned crops (JPEG/PNG)");
  app.add_option("--list", a.list, "text file with one image path per line");
  app.add_option("--out", a.out, "output .safetensors")->required();
  app.add_option("--weights", a.weights, "checkpoint (.pth/.ckpt or .safetensors)");
  app.add_option("--model", a.model, "mobilefacenet-casia | iresnet18 | iresnet34 | iresnet50 | iresnet100")->capture_default_str();
  app.add_option("--crop-x", a.crop_x, "window left column")->capture_default_str();
  app.add_option("--crop-y", a.crop_y, "window top row")->capture_default_str();
  app.add_option("--crop-w", a.crop_w, "window width (0: to the right edge)")->capture_default_str();
  app.add_option("--crop-h", a.crop_h, "window height (0: to the bottom edge)")->capture_default_str();
  app.add_option("--mean", a.mean, "input mean")->capture_default_str();
  app.add_option("--scale", a.scale, "input scale")->capture_default_str();
  app.add_option("--flip", a.flip, "none | sum | concat")->capture_default_str();
  app.add_flag("--normalize", a.normalize, "L2-normalise the embeddings");
  app.add_option("--batch", a.batch, "images per forward pass")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    if (!a.list.empty()) {
      std::ifstream in(a.list);
      check<IoError>(in.good(), "cannot open list '", a.list, "'");
      for (std::string line; std::getline(in, line);)
        if (!line.empty()) a.files.push_back(line);
    }
    check<ConfigError>(!a.files.empty(), "no images given (see --help)");
    check<ConfigError>(a.batch > 0, "--batch must be positive");
    if (a.model == "mobilefacenet-casia") {
      models::MobileFaceNetOptions mo;
      mo.input_w = a.crop_w ? a.crop_w : 112 - a.crop_x;
      mo.input_h = a.crop_h ? a.crop_h : 112 - a.crop_y;
      models::MobileFaceNet<float, cpu> m(mo);
      return run(m, a);
    }
    if (a.model.rfind("iresnet", 0) == 0) {
      models::IResNetOptions mo;
      mo.depth = std::stoi(a.model.substr(7));
      models::IResNet<float, cpu> m(mo);
      return run(m, a);
    }
    fail<ConfigError>("unknown --model '", a.model, "'");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
