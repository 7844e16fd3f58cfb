// Face-recognition training on the CPU (recognition.md 8): ImageFolder or insightface RecordIO ->
// threaded loader (window, resize, flip/mild augmentation) -> backbone + margin head -> SGD with
// warm-up and a schedule, gradient accumulation; per-step CSV log, progress line (loss, accuracy,
// samples/s, ETA), periodic 10-fold verification on LFW-style pairs or an insightface .bin, curve
// images, atomic resumable checkpoints. See docs/recognition_training.md.
//   rfcf-train-recognizer --data faces/ --backbone mobilefacenet-casia --head curricularface
//       --crop-w 96 --epochs 20 --batch 64 --lr 0.1 --out run/ [--eval-pairs pairs.txt --eval-images faces/]
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/cpu.hpp"
#include "rfcf/data/recognition_loader.hpp"
#include "rfcf/io.hpp"
#include "rfcf/models/ir_se.hpp"
#include "rfcf/models/iresnet.hpp"
#include "rfcf/models/mobilefacenet.hpp"
#include "rfcf/models/mobilefacenet_insightface.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/recognition/trainer.hpp"
#include "rfcf/train.hpp"
#include "distributed.hpp"

using namespace rfcf;
using namespace rfcf::recognition;

namespace {

struct Args {
  std::string data, identity_list, backbone = "mobilefacenet-casia", head = "curricularface", out = "run";
  std::string schedule = "poly", augment = "flip", eval_bin, eval_pairs, eval_images, eval_flip = "concat";
  std::string milestones = "10,18,22", t_mode = "local", precision = "fp32";
  double s = 64, m = -1, m1 = 1.0, m2 = 0.3, m3 = 0.2, lr = 0.1, momentum = 0.9, weight_decay = 5e-4, warmup_epochs = 0;
  double clip_grad = 0, dropout = 0, partial_fc = 0, mean = 127.5, scale = 1.0 / 128.0;
  int64_t embedding_size = 0, epochs = 20, batch = 128, min_images = 1, max_images = 0, max_steps = 0, save_every = 0;
  int accumulate = 1, workers = 1, threads = 0, eval_every = 1, crop_x = 0, crop_y = 0, crop_w = 0, crop_h = 0;
  int input_w = 0, input_h = 0;
  uint64_t seed = 0;
  bool resume = false, no_bn_decay = false;
};

// The data-parallel context of this process (examples/distributed.hpp), set in main().
examples::Distributed* g_dist = nullptr;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) v.push_back(std::stoll(item));
  return v;
}

// Columns of a CSV file written by CsvLogger (for the curve images, which cover resumed runs too).
std::map<std::string, std::vector<double>> read_csv_columns(const std::string& path) {
  std::map<std::string, std::vector<double>> cols;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return cols;
  std::vector<std::string> names;
  std::stringstream hs(line);
  for (std::string n; std::getline(hs, n, ',');) names.push_back(n);
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::vector<double> row;
    for (std::string v; std::getline(ls, v, ',');) row.push_back(std::strtod(v.c_str(), nullptr));
    if (row.size() != names.size()) continue;  // a row cut by a crash
    for (size_t i = 0; i < names.size(); ++i) cols[names[i]].push_back(row[i]);
  }
  return cols;
}

// Verification set: distinct images (already windowed/resized like the training input) and pairs.
struct EvalSet {
  std::vector<io::Image> images;
  std::vector<int64_t> first, second;
  std::vector<uint8_t> same;
  std::string name;
};

io::Image to_input(io::Image img, const Args& a, int in_w, int in_h) {
  const int w = a.crop_w ? a.crop_w : img.width - a.crop_x, h = a.crop_h ? a.crop_h : img.height - a.crop_y;
  if (w != img.width || h != img.height) img = io::crop(img, a.crop_x, a.crop_y, w, h);
  if (img.width != in_w || img.height != in_h) img = io::resize(img, in_w, in_h);
  return img;
}

EvalSet load_eval_set(const Args& a, int in_w, int in_h) {
  EvalSet s;
  if (!a.eval_bin.empty()) {
    const io::VerificationBin vb = io::read_verification_bin(a.eval_bin);
    s.name = a.eval_bin;
    for (size_t i = 0; i < vb.images.size(); ++i) {
      const std::string& bytes = vb.images[i];
      io::Image img = io::decode_image({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, io::ColorOrder::RGB,
                                       {}, a.eval_bin + " image " + std::to_string(i));
      if (img.width != 112) {  // recognition.md 10.4: short side to 112
        const double f = 112.0 / std::min(img.width, img.height);
        img = io::resize(img, static_cast<int>(std::lround(img.width * f)), static_cast<int>(std::lround(img.height * f)));
      }
      s.images.push_back(to_input(std::move(img), a, in_w, in_h));
    }
    for (size_t k = 0; k < vb.issame.size(); ++k) {
      s.first.push_back(static_cast<int64_t>(2 * k));
      s.second.push_back(static_cast<int64_t>(2 * k + 1));
      s.same.push_back(vb.issame[k] ? 1 : 0);
    }
    return s;
  }
  const LfwPairs lp = read_lfw_pairs(a.eval_pairs);
  s.name = a.eval_pairs;
  std::map<std::string, int64_t> row;
  auto index = [&](const std::string& rel) {
    auto it = row.find(rel);
    if (it != row.end()) return it->second;
    s.images.push_back(to_input(io::read_image(a.eval_images + "/" + rel, io::ColorOrder::RGB), a, in_w, in_h));
    return row[rel] = static_cast<int64_t>(s.images.size() - 1);
  };
  for (const auto& p : lp.pairs) {
    s.first.push_back(index(p.path1()));
    s.second.push_back(index(p.path2()));
    s.same.push_back(p.same ? 1 : 0);
  }
  return s;
}

struct EvalResult {
  double accuracy = 0, std = 0, threshold = 0, same_cos = 0, diff_cos = 0;
};

// 10-fold P1 accuracy (cosine of the flip-concatenated raw features, recognition.md 7.5); a pair
// count that does not split into 10 folds gives the best-threshold accuracy instead.
template <class Net>
EvalResult evaluate(Net& net, const EvalSet& s, const Args& a) {
  EmbedderOptions o;
  o.mean = {float(a.mean), float(a.mean), float(a.mean)};
  o.scale = {float(a.scale), float(a.scale), float(a.scale)};
  o.flip = parse_flip_mode(a.eval_flip);
  o.batch_size = 64;
  Embedder<Net> e(net, o);
  const Tensor<float, cpu> f = e.embed(s.images);
  net.train(true);
  const int64_t d = f.dim(1);
  auto rows = [&](const std::vector<int64_t>& idx) {
    Tensor<float, cpu> t(Shape{static_cast<int64_t>(idx.size()), d});
    for (size_t i = 0; i < idx.size(); ++i) std::copy_n(f.data() + idx[i] * d, d, t.data() + static_cast<int64_t>(i) * d);
    return t;
  };
  const std::vector<double> cos = pair_cosines(rows(s.first), rows(s.second));
  EvalResult r;
  int64_t ns = 0;
  for (size_t i = 0; i < cos.size(); ++i) (s.same[i] ? (++ns, r.same_cos) : r.diff_cos) += cos[i];
  r.same_cos /= std::max<int64_t>(ns, 1);
  r.diff_cos /= std::max<int64_t>(static_cast<int64_t>(cos.size()) - ns, 1);
  const auto protocol = VerificationProtocol::lfw_cosine();
  if (cos.size() % 10 == 0) {
    const KFoldResult k = kfold_accuracy(cos, s.same, protocol);
    r.accuracy = k.mean_accuracy;
    r.std = k.std_accuracy;
    double t = 0;
    for (double x : k.fold_threshold) t += x;
    r.threshold = t / static_cast<double>(k.fold_threshold.size());
  } else {
    const ThresholdResult b = best_threshold(cos, s.same, protocol);
    r.accuracy = b.accuracy;
    r.threshold = b.threshold;
  }
  return r;
}

void write_curves(const std::string& out) {
  const auto ev = read_csv_columns(out + "/eval.csv");
  const auto lg = read_csv_columns(out + "/log.csv");
  if (ev.count("epoch") && !ev.at("epoch").empty()) {
    io::Series val{"verification accuracy (10-fold)", {}, {}, std::nullopt};
    io::Series tr{"training accuracy (head argmax)", {}, {}, std::nullopt};
    for (size_t i = 0; i < ev.at("epoch").size(); ++i) {
      const double e = ev.at("epoch")[i];
      if (std::isfinite(ev.at("val_accuracy")[i])) val.x.push_back(e), val.y.push_back(ev.at("val_accuracy")[i]);
      if (e > 0) tr.x.push_back(e), tr.y.push_back(ev.at("train_accuracy")[i]);
    }
    io::PlotOptions po;
    po.title = "accuracy";
    po.x_label = "epoch";
    po.y_label = "accuracy";
    po.y_min = 0.0;
    po.y_max = 1.0;
    po.legend = io::LegendPosition::BottomRight;
    io::write_png(out + "/curve.png", io::plot_lines({val, tr}, po));
  }
  if (lg.count("step") && lg.at("step").size() > 1) {
    // Moving average over 20 steps keeps the curve readable.
    io::Series loss{"training loss (20-step mean)", {}, {}, std::nullopt};
    const auto& st = lg.at("step");
    const auto& ls = lg.at("loss");
    double acc = 0;
    for (size_t i = 0; i < st.size(); ++i) {
      acc += ls[i];
      if (i >= 20) acc -= ls[i - 20];
      loss.x.push_back(st[i]);
      loss.y.push_back(acc / static_cast<double>(std::min<size_t>(i + 1, 20)));
    }
    io::PlotOptions po;
    po.title = "training loss";
    po.x_label = "step";
    po.y_label = "loss";
    io::write_png(out + "/loss.png", io::plot_lines({loss}, po));
  }
}

// printf on rank 0 only (the other ranks train silently; their errors still reach stderr).
template <class... A>
void say(const char* fmt, A... args) {
  if (g_dist->main_process()) std::printf(fmt, args...);
}

// Saves the training state: a collective for Partial FC (rank 0 writes the gathered head), rank 0
// alone otherwise (every rank holds the same state).
template <class Trainer>
void save_state(Trainer& tr, const std::string& path) {
  if constexpr (requires { tr.communicator(); }) tr.save(path);
  else if (g_dist->main_process()) tr.save(path);
}

RecognitionTrainerOptions trainer_options(const Args& a, int64_t batches_per_epoch) {
  RecognitionTrainerOptions o;
  o.lr = a.lr;
  o.momentum = a.momentum;
  o.weight_decay = a.weight_decay;
  o.no_decay_on_batchnorm = a.no_bn_decay;
  o.schedule = a.schedule;
  o.milestones = parse_list(a.milestones);
  o.warmup_epochs = a.warmup_epochs;
  o.epochs = a.epochs;
  o.accumulate = a.accumulate;
  o.steps_per_epoch = (batches_per_epoch + a.accumulate - 1) / a.accumulate;
  o.clip_grad_norm = a.clip_grad;
  o.precision = parse_precision(a.precision);
  return o;
}

// The training loop, the same for RecognitionTrainer and dist::PartialFCTrainer. `ready` runs
// after a resume (the data-parallel set-up of the unsharded head broadcasts rank 0's state).
template <class Trainer, class Ready>
int run_training(const Args& a, Trainer& tr, data::RecognitionLoader& loader, int64_t embedding_size, Ready ready) {
  using Policy = typename Trainer::Head::policy_type;
  const int64_t bpe = loader.batches_per_epoch();
  const RecognitionTrainerOptions& o = tr.options();
  // Rank 0 alone prints, logs, draws curves and evaluates (the other ranks' numbers are the same
  // global step's, or their own shard's, and would only repeat it).
  const bool main_process = g_dist->main_process();
  const std::string& log_dir = a.out;
  const std::string config = "backbone=" + a.backbone + " head=" + a.head + " classes=" + std::to_string(loader.num_classes()) +
                             " embedding=" + std::to_string(embedding_size) + " input=" + std::to_string(loader.input_h()) +
                             "x" + std::to_string(loader.input_w());
  tr.checkpoint().metadata("config", config);
  const std::string last = a.out + "/last.safetensors";
  if (a.resume) {
    tr.load(last);
    const auto it = tr.checkpoint().metadata().find("config");
    check<ConfigError>(it != tr.checkpoint().metadata().end() && it->second == config, "--resume: ", last, " was written for '",
                       it == tr.checkpoint().metadata().end() ? std::string("?") : it->second, "', this run is '", config, "'");
    say("resumed from %s at step %lld (epoch %lld, batch %lld)\n", last.c_str(), static_cast<long long>(tr.steps_done()),
        static_cast<long long>(tr.epoch()), static_cast<long long>(tr.batch_in_epoch()));
    // The batch position counts per-rank batches: on another number of ranks, continue after the
    // samples of the epoch already seen (rounded down to whole batches of this run).
    const auto ranks = tr.checkpoint().metadata().find("ranks");
    const int64_t old_ranks = ranks == tr.checkpoint().metadata().end() ? g_dist->size() : std::stoll(ranks->second);
    if (old_ranks != g_dist->size() && tr.batch_in_epoch() > 0) {
      const int64_t b = std::min(tr.batch_in_epoch() * old_ranks / g_dist->size(), loader.batches_per_epoch());
      say("written by %lld ranks, running on %d: continuing at batch %lld of the epoch\n", static_cast<long long>(old_ranks),
          g_dist->size(), static_cast<long long>(b));
      tr.set_position(tr.epoch(), b);
    }
  }
  tr.checkpoint().metadata("ranks", std::to_string(g_dist->size()));
  ready();
  auto save = [&](const std::string& path) { save_state(tr, path); };
  const auto mode = a.resume ? train::CsvMode::append : train::CsvMode::truncate;
  std::unique_ptr<train::CsvLogger> log, evlog;
  if (main_process) {
    log = std::make_unique<train::CsvLogger>(
        log_dir + "/log.csv", std::vector<std::string>{"step", "epoch", "lr", "loss", "accuracy", "t", "grad_norm", "samples_per_s"},
        mode);
    evlog = std::make_unique<train::CsvLogger>(
        log_dir + "/eval.csv",
        std::vector<std::string>{"epoch", "step", "train_loss", "train_accuracy", "val_accuracy", "val_std", "val_threshold",
                                 "same_cos", "diff_cos", "elapsed_s"},
        mode);
  }
  const bool do_eval = main_process && (!a.eval_bin.empty() || !a.eval_pairs.empty());
  EvalSet eval_set;
  if (do_eval) {
    eval_set = load_eval_set(a, loader.input_w(), loader.input_h());
    std::printf("verification set %s: %zu pairs, %zu images\n", eval_set.name.c_str(), eval_set.same.size(),
                eval_set.images.size());
  }
  const double t0 = now_s();
  double best = -1;
  auto run_eval = [&](double epoch, double train_loss, double train_acc) {
    const double te = now_s();
    const EvalResult r = evaluate(tr.backbone(), eval_set, a);
    std::printf("[eval] epoch %g: verification accuracy %.2f%% +- %.2f%% (threshold %.3f; mean cosine same %.3f, different %.3f) in %.0f s\n",
                epoch, 100 * r.accuracy, 100 * r.std, r.threshold, r.same_cos, r.diff_cos, now_s() - te);
    std::fflush(stdout);
    evlog->row({epoch, double(tr.steps_done()), train_loss, train_acc, r.accuracy, r.std, r.threshold, r.same_cos,
               r.diff_cos, now_s() - t0});
    if (r.accuracy > best) {
      best = r.accuracy;
      nn::save_safetensors(tr.backbone(), a.out + "/best.safetensors", {{"config", config}});
    }
  };
  if (do_eval && tr.steps_done() == 0) run_eval(0, 0.0, 0.0);  // the untrained network (chance level)
  if (main_process) write_curves(log_dir);

  const int64_t total = o.total_steps();
  static std::ostream discard(nullptr);  // the progress lines of ranks > 0
  train::ProgressReporter progress({.total_steps = total, .steps_per_epoch = o.steps_per_epoch, .min_interval_s = 10.0,
                                    .prefix = "train", .out = main_process ? nullptr : &discard});
  const bool has_t = Policy::uses_t;
  for (int64_t epoch = tr.epoch(); epoch < a.epochs; ++epoch) {
    const int64_t first = epoch == tr.epoch() ? tr.batch_in_epoch() : 0;
    double loss_sum = 0, acc_sum = 0;
    int64_t steps = 0;
    loader.start_epoch(epoch, first);
    int64_t b = first;
    auto record = [&](const TrainStepResult& r) {
      if (log) log->row({double(r.step), double(epoch), r.lr, r.loss, r.accuracy, has_t ? tr.head().t_value() : 0.0, r.grad_norm,
               progress.samples_per_second()});
      train::LossParts parts{{"loss", r.loss}, {"acc", r.accuracy}};
      if (has_t) parts.push_back({"t", tr.head().t_value()});
      if (r.skipped) parts.push_back({"loss_scale", r.loss_scale});  // fp16 overflow: step skipped
      progress.update(r.step, r.samples, parts, r.lr);
      if (std::isfinite(r.loss)) loss_sum += r.loss, acc_sum += r.accuracy, ++steps;
    };
    bool stop = false;
    while (auto batch = loader.next()) {
      auto r = tr.feed(batch->images, batch->labels);
      tr.set_position(epoch, ++b);
      if (!r) continue;
      record(*r);
      if (a.save_every > 0 && tr.steps_done() % a.save_every == 0) save(last);
      if (a.max_steps > 0 && tr.steps_done() >= a.max_steps) {
        stop = true;
        break;
      }
    }
    if (tr.in_step()) record(tr.apply());  // the epoch's last, partial accumulation
    if (!stop) tr.set_position(epoch + 1, 0);
    save(last);
    const double mean_loss = steps ? loss_sum / steps : 0, mean_acc = steps ? acc_sum / steps : 0;
    say("[epoch %lld] mean loss %.4f, training accuracy %.2f%%, %.0f s elapsed\n", static_cast<long long>(epoch),
                mean_loss, 100 * mean_acc, now_s() - t0);
    std::fflush(stdout);
    // A run stopped by --max-steps records the fraction of the epoch it reached.
    const double epochs_done = stop ? static_cast<double>(epoch) + static_cast<double>(b) / static_cast<double>(bpe)
                                    : static_cast<double>(epoch + 1);
    if (do_eval && ((epoch + 1) % a.eval_every == 0 || epoch + 1 == a.epochs || stop)) run_eval(epochs_done, mean_loss, mean_acc);
    else if (evlog) evlog->row({epochs_done, double(tr.steps_done()), mean_loss, mean_acc, std::nan(""), std::nan(""), std::nan(""),
                    std::nan(""), std::nan(""), now_s() - t0});
    if (main_process) write_curves(log_dir);
    progress.restart_clock();
    if (stop) break;
  }
  if (!main_process) return 0;
  nn::save_safetensors(tr.backbone(), a.out + "/final.safetensors", {{"config", config}});
  std::printf("done: %lld steps in %.0f s; %s/final.safetensors (backbone), last.safetensors (training state)%s\n",
              static_cast<long long>(tr.steps_done()), now_s() - t0, a.out.c_str(),
              best >= 0 ? (", best.safetensors (best verification accuracy " + std::to_string(100 * best) + "%)").c_str() : "");
  return 0;
}

template <class Net, class Policy>
int train_model(const Args& a, Net net, int64_t embedding_size, Policy policy, data::RecognitionLoader& loader) {
  const RecognitionTrainerOptions o = trainer_options(a, loader.batches_per_epoch());
  check<ConfigError>(a.t_mode == "local" || a.t_mode == "global", "--t-mode: 'local' or 'global', got '", a.t_mode, "'");
  const TMode t_mode = a.t_mode == "global" ? TMode::global : TMode::local;
  check<ConfigError>(a.partial_fc >= 0, "--partial-fc: the sample rate must lie in (0, 1] (0: off), got ", a.partial_fc);
  if (a.partial_fc > 0) {
    // Partial FC: rank r holds classes class_range(C, r, W) of the head; the backbone is data parallel.
    check<ConfigError>(a.partial_fc <= 1, "--partial-fc: the sample rate must lie in (0, 1], got ", a.partial_fc);
    dist::PartialFCOptions po;
    po.sample_rate = a.partial_fc;
    po.seed = a.seed;
    po.sample_seed = a.seed;
    po.t_mode = t_mode;
    dist::PartialFCTrainer<Net, Policy> tr(g_dist->comm(), std::move(net), embedding_size, loader.num_classes(), policy, o, po);
    const dist::ClassRange cr = tr.head().class_range_of_rank();
    say("partial fc: %d ranks, rank 0 holds classes [%lld, %lld) of %lld, sample rate %g (%lld classes per step), t mode %s\n",
        g_dist->size(), static_cast<long long>(cr.start), static_cast<long long>(cr.start + cr.count),
        static_cast<long long>(loader.num_classes()), a.partial_fc, static_cast<long long>(tr.head().num_sample()),
        a.t_mode.c_str());
    return run_training(a, tr, loader, embedding_size, [] {});
  }
  MarginHeadOptions ho;
  Generator gen(a.seed);
  RecognitionTrainer<Net, Policy> tr(std::move(net), embedding_size, loader.num_classes(), policy, o, ho, gen);
  // Data parallel (mpirun): gradients are averaged over ranks; t per rank or averaged (--t-mode).
  if (t_mode == TMode::global) {
    tr.head().set_t_mode(TMode::global);
    tr.head().set_t_reducer(dist::t_reducer<cpu>(g_dist->comm()));
  }
  std::unique_ptr<dist::DataParallel<float, cpu>> ddp;
  auto ready = [&] {
    if (!g_dist->active()) return;
    ddp = std::make_unique<dist::DataParallel<float, cpu>>(g_dist->comm(), tr.parameters());
    ddp->broadcast_model(tr.backbone());
    ddp->broadcast_model(tr.head());
    tr.set_grad_hook([&ddp](nn::FlatParameters<float, cpu>&) { ddp->sync_gradients(); });
    say("data parallel: %d ranks, batch %lld per rank, t mode %s\n", g_dist->size(), static_cast<long long>(a.batch),
        a.t_mode.c_str());
  };
  return run_training(a, tr, loader, embedding_size, ready);
}

template <class Net>
int with_head(const Args& a, Net net, int64_t emb, data::RecognitionLoader& loader) {
  const auto m = [&](double dflt) { return a.m >= 0 ? a.m : dflt; };
  if (a.head == "curricularface") return train_model(a, std::move(net), emb, CurricularFace(m(0.5), a.s), loader);
  if (a.head == "arcface") return train_model(a, std::move(net), emb, ArcFace(m(0.5), a.s), loader);
  if (a.head == "cosface") return train_model(a, std::move(net), emb, CosFace(m(0.4), a.s), loader);
  if (a.head == "combined") return train_model(a, std::move(net), emb, Combined(a.m1, a.m2, a.m3, a.s), loader);
  if (a.head == "softmax") return train_model(a, std::move(net), emb, Softmax(a.s), loader);
  fail<ConfigError>("unknown --head '", a.head, "' (curricularface, arcface, cosface, combined, softmax)");
}

int run(const Args& a) {
  std::filesystem::create_directories(a.out);
  data::IdentityFilter filter;
  if (!a.identity_list.empty()) filter.allow = data::read_identity_list(a.identity_list);
  filter.min_images = a.min_images;
  filter.max_images = a.max_images;
  data::RecognitionDataset ds = data::RecognitionDataset::open(a.data, filter);
  say("%s: %zu images of %lld identities\n", a.data.c_str(), ds.size(), static_cast<long long>(ds.num_classes()));
  data::RecognitionLoaderOptions lo;
  lo.workers = a.workers;
  lo.batch_size = a.batch;
  lo.seed = a.seed;
  lo.crop_x = a.crop_x, lo.crop_y = a.crop_y, lo.crop_w = a.crop_w, lo.crop_h = a.crop_h;
  lo.resize_w = a.input_w, lo.resize_h = a.input_h;
  lo.mean = {float(a.mean), float(a.mean), float(a.mean)};
  lo.scale = {float(a.scale), float(a.scale), float(a.scale)};
  if (a.augment == "none") lo.augment = data::RecognitionAugmentOptions::none();
  else if (a.augment == "mild") lo.augment = data::RecognitionAugmentOptions::mild();
  else check<ConfigError>(a.augment == "flip", "unknown --augment '", a.augment, "' (flip, mild, none)");
  data::RecognitionLoader loader(std::move(ds), lo);
  if (g_dist->active()) loader.shard(g_dist->rank(), g_dist->size());
  const int64_t H = loader.input_h(), W = loader.input_w();
  say("input %lldx%lld, %lld batches of %lld per epoch, accumulate %d\n", static_cast<long long>(H),
              static_cast<long long>(W), static_cast<long long>(loader.batches_per_epoch()), static_cast<long long>(a.batch),
              a.accumulate);
  const std::string& b = a.backbone;
  if (b == "mobilefacenet-casia") {
    models::MobileFaceNetOptions o;
    o.embedding_size = a.embedding_size ? a.embedding_size : 128;
    o.input_h = H, o.input_w = W;
    return with_head(a, models::MobileFaceNet<float, cpu>(o), o.embedding_size, loader);
  }
  if (b == "mbf") {
    models::MobileFaceNetInsightfaceOptions o;
    o.embedding_size = a.embedding_size ? a.embedding_size : 512;
    o.input_h = H, o.input_w = W;
    return with_head(a, models::MobileFaceNetInsightface<float, cpu>(o), o.embedding_size, loader);
  }
  if (b.rfind("iresnet", 0) == 0) {
    models::IResNetOptions o;
    o.depth = std::stoi(b.substr(7));
    o.embedding_size = a.embedding_size ? a.embedding_size : 512;
    o.dropout = a.dropout;
    o.input_h = H, o.input_w = W;
    return with_head(a, models::IResNet<float, cpu>(o), o.embedding_size, loader);
  }
  if (b == "ir-se-50") {
    models::IRNetOptions o;
    o.depth = 50;
    o.se = true;
    o.embedding_size = a.embedding_size ? a.embedding_size : 512;
    o.dropout = a.dropout;
    o.input_h = H, o.input_w = W;
    return with_head(a, models::IRNet<float, cpu>(o), o.embedding_size, loader);
  }
  fail<ConfigError>("unknown --backbone '", b, "' (mobilefacenet-casia, mbf, iresnet18|34|50|100, ir-se-50)");
}

}  // namespace

int main(int argc, char** argv) {
  examples::Distributed dp(&argc, &argv);
  g_dist = &dp;
  CLI::App app{"Train a face-recognition backbone with a margin head (CurricularFace, ArcFace, CosFace, ...)"};
  Args a;
  app.add_option("--data", a.data, "ImageFolder (one directory per identity) or insightface FILE.rec (+ FILE.idx)")->required();
  app.add_option("--identity-list", a.identity_list, "train only these identities (one name per line)");
  app.add_option("--min-images", a.min_images, "skip identities with fewer images")->capture_default_str();
  app.add_option("--max-images", a.max_images, "use at most this many images per identity (0: all)")->capture_default_str();
  app.add_option("--backbone", a.backbone, "mobilefacenet-casia | mbf | iresnet18 | iresnet34 | iresnet50 | iresnet100 | ir-se-50")->capture_default_str();
  app.add_option("--head", a.head, "curricularface | arcface | cosface | combined | softmax")->capture_default_str();
  app.add_option("-s,--scale-s", a.s, "logit scale s")->capture_default_str();
  app.add_option("-m,--margin", a.m, "margin m (default 0.5 for curricularface/arcface, 0.4 for cosface)");
  app.add_option("--m1", a.m1, "combined margin m1")->capture_default_str();
  app.add_option("--m2", a.m2, "combined margin m2")->capture_default_str();
  app.add_option("--m3", a.m3, "combined margin m3")->capture_default_str();
  app.add_option("--embedding-size", a.embedding_size, "embedding size (default 128 for mobilefacenet-casia, else 512)");
  app.add_option("--dropout", a.dropout, "dropout before the FC (iresnet, ir-se)")->capture_default_str();
  app.add_option("--epochs", a.epochs, "epochs")->capture_default_str();
  app.add_option("--batch", a.batch, "batch size per loader batch")->capture_default_str();
  app.add_option("--accumulate", a.accumulate, "loader batches per optimizer step (gradient accumulation)")->capture_default_str();
  app.add_option("--lr", a.lr, "base learning rate")->capture_default_str();
  app.add_option("--momentum", a.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", a.weight_decay, "weight decay")->capture_default_str();
  app.add_flag("--no-bn-decay", a.no_bn_decay, "no weight decay on batch-norm parameters (CurricularFace recipe)");
  app.add_option("--schedule", a.schedule, "poly | multistep | cosine | constant")->capture_default_str();
  app.add_option("--milestones", a.milestones, "multistep: epochs where lr *= 0.1")->capture_default_str();
  app.add_option("--warmup-epochs", a.warmup_epochs, "linear warm-up (epochs, may be fractional)")->capture_default_str();
  app.add_option("--clip-grad", a.clip_grad, "clip the gradient norm to this value (0: off)")->capture_default_str();
  app.add_option("--precision", a.precision, "conv/GEMM compute precision: fp32 | bf16 | fp16 (fp16: dynamic loss scaling)")
      ->capture_default_str();
  app.add_option("--crop-x", a.crop_x, "window left column")->capture_default_str();
  app.add_option("--crop-y", a.crop_y, "window top row")->capture_default_str();
  app.add_option("--crop-w", a.crop_w, "window width (0: to the right edge; 96 for the CASIA 112x96 layout)")->capture_default_str();
  app.add_option("--crop-h", a.crop_h, "window height (0: to the bottom edge)")->capture_default_str();
  app.add_option("--input-w", a.input_w, "resize the window to this width (0: keep)")->capture_default_str();
  app.add_option("--input-h", a.input_h, "resize the window to this height (0: keep)")->capture_default_str();
  app.add_option("--mean", a.mean, "input mean")->capture_default_str();
  app.add_option("--scale", a.scale, "input scale: 1/128 (CASIA), 1/127.5 (insightface)")->capture_default_str();
  app.add_option("--augment", a.augment, "flip | mild | none")->capture_default_str();
  app.add_option("--workers", a.workers, "loader threads")->capture_default_str();
  app.add_option("--threads", a.threads, "OpenMP threads for the network (0: default)");
  app.add_option("--seed", a.seed, "initialisation, data order and augmentation seed")->capture_default_str();
  app.add_option("--out", a.out, "output folder: log.csv, eval.csv, curve.png, loss.png, last/best/final.safetensors")->capture_default_str();
  app.add_flag("--resume", a.resume, "continue from OUT/last.safetensors");
  app.add_option("--save-every", a.save_every, "also save last.safetensors every N steps (0: at epoch ends)");
  app.add_option("--max-steps", a.max_steps, "stop after this many optimizer steps (0: no limit)");
  app.add_option("--eval-bin", a.eval_bin, "insightface verification .bin");
  app.add_option("--eval-pairs", a.eval_pairs, "LFW-format pairs.txt");
  app.add_option("--eval-images", a.eval_images, "image root for --eval-pairs");
  app.add_option("--eval-every", a.eval_every, "evaluate every N epochs")->capture_default_str();
  app.add_option("--eval-flip", a.eval_flip, "flip test: concat | sum | none")->capture_default_str();
  app.add_option("--t-mode", a.t_mode,
                 "CurricularFace t under mpirun: local (per rank, the paper runs) | global (averaged over ranks)")
      ->capture_default_str();
  app.add_option("--partial-fc", a.partial_fc,
                 "Partial FC: shard the class matrix over the mpirun ranks and use this fraction of each rank's "
                 "classes per step (1: all; 0: off, the whole head on every rank)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    check<ConfigError>(a.eval_pairs.empty() == a.eval_images.empty(), "give --eval-pairs and --eval-images together");
    check<ConfigError>(a.eval_every >= 1 && a.accumulate >= 1 && a.batch >= 1 && a.epochs >= 1,
                       "--eval-every, --accumulate, --batch and --epochs must be >= 1");
    if (a.threads > 0) set_num_threads(a.threads);
    return run(a);
  } catch (const NumericError& e) {
    const std::string last = a.out + "/last.safetensors";
    if (std::filesystem::exists(last))
      std::fprintf(stderr, "rfcf-train-recognizer: %s\nThe last good checkpoint is %s (not overwritten); resume with "
                   "--resume and a lower --lr.\n", e.what(), last.c_str());
    else
      std::fprintf(stderr, "rfcf-train-recognizer: %s\nNo checkpoint was written before; restart with a lower --lr.\n", e.what());
    if (dp.active()) dp.comm().abort(2);  // the other ranks would wait for this one
    return 2;
  } catch (const std::exception& e) {
    return dp.fail("rfcf-train-recognizer", e, 1);
  }
}
