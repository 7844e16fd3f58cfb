// Face verification on LFW pairs.txt + aligned crops, or on an insightface .bin (lfw.bin, cfp_fp.bin, ...):
// 10-fold accuracy with the cosine protocols P1/P2 (recognition.md 7.5) and the insightface protocol
// (10.2), best single threshold, TAR at FAR 1e-3/1e-4, ROC as CSV and PNG.
//   rfcf-eval-verification --weights ../shared/models/mobilefacenet_casia.ckpt --model mobilefacenet-casia \
//       --pairs ../shared/lfw/pairs.txt --images ../shared/lfw/lfw_112x112 --crop-x 0 --crop-w 96 --flip concat
#include <CLI/CLI.hpp>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/io.hpp"
#include "rfcf/models/iresnet.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/recognition/embedder.hpp"
#include "rfcf/train/progress.hpp"

using namespace rfcf;
using namespace rfcf::recognition;

namespace {

struct Args {
  std::string weights, model = "mobilefacenet-casia", pairs, images, bin, roc_csv, roc_png, scores_csv, flip = "concat";
  int crop_x = 0, crop_y = 0, crop_w = 96, crop_h = 0, batch = 64, threads = 0, limit_pairs = 0;
  float mean = 127.5f, scale = 1.f / 128.f;
};

struct Dataset {
  std::vector<io::Image> images;        // distinct images
  std::vector<int64_t> first, second;   // per pair: rows in images
  std::vector<uint8_t> same;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Decodes the listed files (OpenMP threads), each as RGB.
std::vector<io::Image> decode_all(const std::vector<std::string>& paths) {
  std::vector<io::Image> out(paths.size());
  std::string error;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < static_cast<int64_t>(paths.size()); ++i) {
    try {
      out[static_cast<size_t>(i)] = io::read_image(paths[static_cast<size_t>(i)]);
    } catch (const std::exception& e) {
#pragma omp critical
      error = e.what();
    }
  }
  if (!error.empty()) throw IoError(error);
  return out;
}

Dataset load_pairs(const Args& a) {
  const LfwPairs lp = read_lfw_pairs(a.pairs);
  Dataset d;
  size_t n = lp.pairs.size();
  if (a.limit_pairs > 0) n = std::min(n, static_cast<size_t>(a.limit_pairs));
  std::map<std::string, int64_t> row;
  std::vector<std::string> paths;
  auto index = [&](const std::string& rel) {
    auto it = row.find(rel);
    if (it != row.end()) return it->second;
    paths.push_back(a.images + "/" + rel);
    return row[rel] = static_cast<int64_t>(paths.size() - 1);
  };
  for (size_t i = 0; i < n; ++i) {
    d.first.push_back(index(lp.pairs[i].path1()));
    d.second.push_back(index(lp.pairs[i].path2()));
    d.same.push_back(lp.pairs[i].same ? 1 : 0);
  }
  d.images = decode_all(paths);
  return d;
}

// insightface .bin: images 2k, 2k+1 form pair k; widths other than 112 are resized (short side 112).
Dataset load_bin(const Args& a) {
  const io::VerificationBin vb = io::read_verification_bin(a.bin);
  Dataset d;
  size_t n = vb.issame.size();
  if (a.limit_pairs > 0) n = std::min(n, static_cast<size_t>(a.limit_pairs));
  d.images.resize(2 * n);
  std::string error;
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < static_cast<int64_t>(2 * n); ++i) {
    try {
      const std::string& bytes = vb.images[static_cast<size_t>(i)];
      io::Image img = io::decode_image({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                       io::ColorOrder::RGB, {}, a.bin + " image " + std::to_string(i));
      if (img.width != 112) {
        const double s = 112.0 / std::min(img.width, img.height);
        img = io::resize(img, static_cast<int>(std::lround(img.width * s)), static_cast<int>(std::lround(img.height * s)));
      }
      d.images[static_cast<size_t>(i)] = std::move(img);
    } catch (const std::exception& e) {
#pragma omp critical
      error = e.what();
    }
  }
  if (!error.empty()) throw FormatError(error);
  for (size_t k = 0; k < n; ++k) {
    d.first.push_back(static_cast<int64_t>(2 * k));
    d.second.push_back(static_cast<int64_t>(2 * k + 1));
    d.same.push_back(vb.issame[k] ? 1 : 0);
  }
  return d;
}

template <class Model>
Tensor<float, cpu> embed_all(Model& model, const Args& a, const std::vector<io::Image>& images) {
  EmbedderOptions o;
  o.crop_x = a.crop_x, o.crop_y = a.crop_y, o.crop_w = a.crop_w, o.crop_h = a.crop_h;
  o.mean = {a.mean, a.mean, a.mean};
  o.scale = {a.scale, a.scale, a.scale};
  o.flip = parse_flip_mode(a.flip);
  o.batch_size = a.batch;
  Embedder<Model> e(model, o);
  const int64_t n = static_cast<int64_t>(images.size());
  const int64_t steps = (n + a.batch - 1) / a.batch;
  train::ProgressReporter progress({.total_steps = steps, .min_interval_s = 5.0, .prefix = "embed"});
  Tensor<float, cpu> out;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t b = s * a.batch, m = std::min<int64_t>(a.batch, n - b);
    std::vector<io::Image> batch(images.begin() + b, images.begin() + b + m);
    Tensor<float, cpu> f = e.embed(batch);
    if (s == 0) out = Tensor<float, cpu>(Shape{n, f.dim(1)});
    std::copy(f.data(), f.data() + f.numel(), out.data() + b * f.dim(1));
    progress.update(s, m);
  }
  return out;
}

Tensor<float, cpu> gather_rows(const Tensor<float, cpu>& f, const std::vector<int64_t>& rows) {
  const int64_t d = f.dim(1);
  Tensor<float, cpu> out(Shape{static_cast<int64_t>(rows.size()), d});
  for (size_t i = 0; i < rows.size(); ++i) std::copy(f.data() + rows[i] * d, f.data() + (rows[i] + 1) * d, out.data() + static_cast<int64_t>(i) * d);
  return out;
}

// Rows [a | b] -> a + b (the insightface flip-sum from concatenated halves), then L2 normalised.
Tensor<float, cpu> insightface_features(const Tensor<float, cpu>& f, bool halves) {
  const int64_t n = f.dim(0), d = halves ? f.dim(1) / 2 : f.dim(1);
  Tensor<float, cpu> out(Shape{n, d});
  for (int64_t i = 0; i < n; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < d; ++j) {
      const float v = f.data()[i * f.dim(1) + j] + (halves ? f.data()[i * f.dim(1) + d + j] : 0.f);
      out.data()[i * d + j] = v;
      ss += double(v) * v;
    }
    const float inv = ss > 0 ? static_cast<float>(1.0 / std::sqrt(ss)) : 0.f;
    for (int64_t j = 0; j < d; ++j) out.data()[i * d + j] *= inv;
  }
  return out;
}

void print_kfold(const char* name, const KFoldResult& r) {
  std::printf("%-28s %.2f%% +- %.2f%%   folds:", name, 100 * r.mean_accuracy, 100 * r.std_accuracy);
  for (double v : r.fold_accuracy) std::printf(" %.2f", 100 * v);
  std::printf("\n%-28s thresholds:", "");
  for (double t : r.fold_threshold) std::printf(" %.5f", t);
  std::printf("\n");
}

template <class Model>
int evaluate(Model& model, const Args& a) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!a.weights.empty()) {
    const std::string& w = a.weights;
    nn::load_weights(model, w);
  }
  nn::fuse_for_inference(model);  // batch norms folded into the convolutions: inference only
  Dataset d = a.bin.empty() ? load_pairs(a) : load_bin(a);
  std::fprintf(stderr, "%zu pairs, %zu images decoded in %.1f s\n", d.same.size(), d.images.size(), seconds_since(t0));
  const auto t1 = std::chrono::steady_clock::now();
  Tensor<float, cpu> f = embed_all(model, a, d.images);
  const double embed_s = seconds_since(t1);
  const Tensor<float, cpu> fa = gather_rows(f, d.first), fb = gather_rows(f, d.second);
  const std::vector<double> cos = pair_cosines(fa, fb);
  const bool ten_folds = d.same.size() % 10 == 0;

  std::printf("pairs %zu, images %zu, feature dim %lld, embedding %.1f s (%.1f images/s, %d threads)\n", d.same.size(),
              d.images.size(), static_cast<long long>(f.dim(1)), embed_s, double(d.images.size()) / embed_s,
              omp_get_max_threads());
  double same_mean = 0, diff_mean = 0;
  int64_t ns = 0;
  for (size_t i = 0; i < cos.size(); ++i) (d.same[i] ? (++ns, same_mean) : diff_mean) += cos[i];
  std::printf("mean cosine: same %.4f, different %.4f\n", same_mean / std::max<int64_t>(ns, 1),
              diff_mean / std::max<int64_t>(static_cast<int64_t>(cos.size()) - ns, 1));
  const auto lfw = VerificationProtocol::lfw_cosine();
  if (ten_folds) {
    print_kfold("P2 (mean-subtracted cosine)", kfold_accuracy_mean_subtracted(fa, fb, d.same, lfw));
    print_kfold("P1 (cosine)", kfold_accuracy(cos, d.same, lfw));
    const bool halves = a.flip == "concat";
    const auto ia = insightface_features(fa, halves), ib = insightface_features(fb, halves);
    print_kfold("insightface (flip-sum, L2)", kfold_accuracy(pair_squared_distances(ia, ib), d.same,
                                                              VerificationProtocol::insightface()));
  } else {
    std::printf("(pair count not divisible by 10: no 10-fold results)\n");
  }
  const ThresholdResult best = best_threshold(cos, d.same, lfw, {});
  std::printf("best single threshold (P1, all pairs): %.5f, accuracy %.2f%%\n", best.threshold, 100 * best.accuracy);
  for (double far : {1e-3, 1e-4}) {
    const TarAtFar t = tar_at_far(cos, d.same, far);
    std::printf("TAR @ FAR %.0e: %.4f (achieved FAR %.2e, threshold %.5f)\n", far, t.tar, t.far, t.threshold);
  }
  if (!a.roc_csv.empty() || !a.roc_png.empty()) {
    const std::vector<RocPoint> pts = roc(cos, d.same, lfw.thresholds, ScoreRule::similarity_strict);
    if (!a.roc_csv.empty()) write_roc_csv(a.roc_csv, pts);
    if (!a.roc_png.empty()) {
      io::Series s{"P1 cosine", {}, {}, std::nullopt};
      for (const auto& p : pts)
        if (p.fpr > 0) s.x.push_back(p.fpr), s.y.push_back(p.tpr);
      io::PlotOptions po;
      po.title = "ROC (" + std::to_string(d.same.size()) + " pairs)";
      po.x_label = "false accept rate";
      po.y_label = "true accept rate";
      po.log_x = true;
      po.legend = io::LegendPosition::BottomRight;
      io::write_png(a.roc_png, io::plot_lines({s}, po));
    }
  }
  if (!a.scores_csv.empty()) {
    std::string text = "pair,same,cosine\n";
    char buf[96];
    for (size_t i = 0; i < cos.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%zu,%d,%.7f\n", i, int(d.same[i]), cos[i]);
      text += buf;
    }
    io::atomic_write(a.scores_csv, text);
  }
  std::printf("total time %.1f s\n", seconds_since(t0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Face verification accuracy (LFW pairs.txt + crops, or insightface .bin)"};
  Args a;
  app.add_option("--weights", a.weights, "checkpoint: PyTorch (.pth/.ckpt/.pt) or .safetensors");
  app.add_option("--model", a.model, "mobilefacenet-casia (112x96, 128-d) | iresnet18 | iresnet34 | iresnet50 | iresnet100")
      ->capture_default_str();
  app.add_option("--pairs", a.pairs, "LFW pairs.txt");
  app.add_option("--images", a.images, "folder of aligned crops <name>/<name>_NNNN.jpg");
  app.add_option("--bin", a.bin, "insightface verification .bin (instead of --pairs/--images)");
  app.add_option("--crop-x", a.crop_x, "window left column")->capture_default_str();
  app.add_option("--crop-y", a.crop_y, "window top row")->capture_default_str();
  app.add_option("--crop-w", a.crop_w, "window width (0: to the right edge)")->capture_default_str();
  app.add_option("--crop-h", a.crop_h, "window height (0: to the bottom edge)")->capture_default_str();
  app.add_option("--mean", a.mean, "input mean (all channels)")->capture_default_str();
  app.add_option("--scale", a.scale, "input scale (all channels): 1/128 CASIA, 1/127.5 insightface")->capture_default_str();
  app.add_option("--flip", a.flip, "flip test: none | sum | concat")->capture_default_str();
  app.add_option("--batch", a.batch, "images per forward pass")->capture_default_str();
  app.add_option("--threads", a.threads, "OpenMP threads (0: default)");
  app.add_option("--limit-pairs", a.limit_pairs, "evaluate only the first N pairs");
  app.add_option("--roc-csv", a.roc_csv, "write the P1 ROC (threshold,tpr,fpr) here");
  app.add_option("--roc-png", a.roc_png, "plot the P1 ROC into this PNG");
  app.add_option("--scores-csv", a.scores_csv, "write the per-pair P1 cosines here");
  CLI11_PARSE(app, argc, argv);
  try {
    check<ConfigError>(!a.bin.empty() || (!a.pairs.empty() && !a.images.empty()),
                       "give --pairs and --images, or --bin (see --help)");
    check<ConfigError>(a.batch > 0, "--batch must be positive");
    if (a.threads > 0) omp_set_num_threads(a.threads);
    if (a.model == "mobilefacenet-casia") {
      models::MobileFaceNetOptions o;
      o.input_w = a.crop_w ? a.crop_w : 112 - a.crop_x;
      o.input_h = a.crop_h ? a.crop_h : 112 - a.crop_y;
      models::MobileFaceNet<float, cpu> m(o);
      return evaluate(m, a);
    }
    if (a.model.rfind("iresnet", 0) == 0) {
      models::IResNetOptions o;
      o.depth = std::stoi(a.model.substr(7));
      models::IResNet<float, cpu> m(o);
      return evaluate(m, a);
    }
    fail<ConfigError>("unknown --model '", a.model, "'");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
