// rfcf-train-detector: trains RetinaFace on WIDER FACE (label.txt) or your own data with the
// reference recipe (retinaface.md 8) on the CPU; the loop is train::DetectorTrainer
// (docs/detector_training.md).
//   rfcf-train-detector --labels widerface/train/label.txt --out run \
//       --pretrained mobilenetv1_025_imagenet.tar [--config train.toml] [--resume]
// Every flag can also come from a TOML/INI file (--config); flags on the command line win.
// --print-config writes the effective configuration (a starting point for a config file).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "rfcf/cpu.hpp"
#include "rfcf/data.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/models.hpp"
#include "rfcf/train.hpp"
#include "rfcf/dist/detector_trainer.hpp"
#include "distributed.hpp"

namespace {

struct Flags {
  std::string labels, images, pretrained, backbone = "mobilenet0.25", anchors = "official", precision = "fp32";
  bool resume = false, guarded = false, print_config = false, global_normalizer = false;
  int threads = 0;
};

template <template <class, class> class Backbone>
int train(const Flags& f, rfcf::train::DetectorTrainOptions o, rfcf::examples::Distributed& dp) {
  using namespace rfcf;
  // Data parallel (mpirun): rank r reads its shard; rank 0 alone writes, prints and evaluates.
  o.loader.shard_rank = dp.rank();
  o.loader.shard_count = dp.size();
  o.main_process = dp.main_process();
  if (!dp.main_process()) o.eval_every = 0;
  data::WiderLabelOptions lo;
  lo.image_root = f.images;
  data::WiderLabelSet set = data::read_wider_labels(f.labels, lo);
  if (dp.main_process())
    std::printf("%s: %zu images, %lld faces (%lld without landmarks, %lld degenerate), %lld empty images skipped\n",
              f.labels.c_str(), set.images.size(), static_cast<long long>(set.faces),
              static_cast<long long>(set.faces_without_landmarks), static_cast<long long>(set.degenerate_faces),
              static_cast<long long>(set.skipped_empty));
  train::DetectorTrainer<Backbone> trainer(std::move(set.images), o);
  if (dp.main_process())
    std::printf("%lld steps per epoch (batch %lld x accumulate %lld), %lld epochs, schedule %s, lr %g\n",
              static_cast<long long>(trainer.steps_per_epoch()), static_cast<long long>(o.loader.batch_size),
              static_cast<long long>(o.accumulate), static_cast<long long>(o.epochs), o.schedule.c_str(), o.lr);
  if (f.resume && std::filesystem::exists(o.last_checkpoint())) {
    trainer.resume();
  } else {
    if (f.resume && dp.main_process()) std::printf("--resume: no %s yet, starting fresh\n", o.last_checkpoint().c_str());
    if (!f.pretrained.empty()) {
      const std::string report = trainer.load_pretrained_backbone(f.pretrained).str();
      if (dp.main_process()) std::printf("%s\n", report.c_str());
    }
  }
  if (dp.active()) {
    // Every rank starts from rank 0's weights (resumed or pretrained there too); gradients are
    // averaged over ranks before each update. The loss normaliser stays per rank, as with DDP,
    // unless --global-normalizer (then W ranks equal one process on the same global batch).
    dist::data_parallel(trainer, dp.comm(), {.global_normalizer = f.global_normalizer});
    if (dp.main_process())
      std::printf("data parallel: %d ranks, batch %lld per rank, loss normaliser %s\n", dp.size(),
                  static_cast<long long>(o.loader.batch_size), f.global_normalizer ? "global" : "per rank");
  }
  trainer.fit();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rfcf;
  examples::Distributed dp(&argc, &argv);
  CLI::App app{"Train RetinaFace (reference recipe by default; docs/detector_training.md)"};
  app.set_config("--config", "", "TOML/INI file with any of these options (command-line flags override it)");
  Flags f;
  train::DetectorTrainOptions o;
  auto& L = o.loader;
  L.workers = 4;
  int64_t img_dim = 640;
  app.add_option("--labels", f.labels, "label.txt (WIDER/retinaface format, also the user format); required");
  app.add_option("--images", f.images, "image folder (default: <dir of label.txt>/images)");
  app.add_option("--out", o.out_dir, "output folder: checkpoints, logs, loss curve")->capture_default_str();
  app.add_option("--backbone", f.backbone, "mobilenet0.25 | resnet50")->capture_default_str();
  app.add_option("--anchors", f.anchors, "official (LeakyReLU 0.1, anchors 16-512) | 1mb (ReLU, anchors 10-256)")
      ->capture_default_str();
  app.add_option("--pretrained", f.pretrained, "ImageNet backbone checkpoint (e.g. mobilenetv1_025_imagenet.tar)");
  app.add_flag("--resume", f.resume, "continue from <out>/last.safetensors when it exists");
  app.add_option("--epochs", o.epochs, "epochs")->capture_default_str();
  app.add_option("--batch", L.batch_size, "images per micro-batch")->capture_default_str();
  app.add_option("--accumulate", o.accumulate, "micro-batches per optimizer step (gradients averaged)")
      ->capture_default_str();
  app.add_option("--img-dim", img_dim, "training input size")->capture_default_str();
  app.add_option("--lr", o.lr, "initial learning rate")->capture_default_str();
  app.add_option("--precision", f.precision, "conv compute precision: fp32 | bf16 | fp16 (fp16: dynamic loss scaling)")
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "weight decay (all parameters)")->capture_default_str();
  app.add_option("--schedule", o.schedule, "multistep | cosine")->capture_default_str();
  app.add_option("--decay-epochs", o.decay_epochs, "multistep: epochs where lr *= gamma")->capture_default_str();
  app.add_option("--gamma", o.gamma, "multistep decay factor")->capture_default_str();
  app.add_option("--min-lr", o.min_lr, "cosine: final learning rate")->capture_default_str();
  app.add_option("--warmup-epochs", o.warmup_epochs, "linear warm-up length in epochs (0: none, the reference)")
      ->capture_default_str();
  app.add_option("--warmup-start", o.warmup_start_factor, "warm-up starts at lr times this")->capture_default_str();
  app.add_option("--progressive-epochs", o.progressive_epochs,
                 "progressive schedule length K in epochs (0: off)")->capture_default_str();
  app.add_option("--progressive-min-face", o.progressive_min_face,
                 "progressive: faces with a shorter side below this (pixels at --img-dim) are ignored in epoch 0; "
                 "the threshold falls linearly to 0 at epoch K")->capture_default_str();
  app.add_flag("--guarded", f.guarded, "guarded matching: invalid gts take no priors, degenerate boxes dropped");
  app.add_flag("--global-normalizer", f.global_normalizer,
               "under mpirun: divide the loss by the matched priors of the global batch (W ranks == one process); "
               "default: per rank, like the reference under DDP");
  app.add_option("--workers", L.workers, "loader threads")->capture_default_str();
  app.add_option("--threads", f.threads, "compute threads (0: OpenMP default)");
  app.add_option("--seed", L.seed, "data order / augmentation seed")->capture_default_str();
  app.add_option("--snapshot-every", o.snapshot_every, "also keep epoch_<e>.safetensors every N epochs (0: no)")
      ->capture_default_str();
  app.add_option("--max-steps,--max-iters", o.max_steps, "stop after this many optimizer steps (0: no limit)")
      ->capture_default_str();
  app.add_option("--progress-interval", o.progress_interval_s, "seconds between progress lines")->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "WIDER evaluation every N epochs and after the last (0: off)")
      ->capture_default_str();
  app.add_option("--eval-images", o.eval_images, "evaluation images folder (<event>/<stem>.jpg)");
  app.add_option("--eval-list", o.eval_list, "evaluation image list (one <event>/<stem>.jpg per line)");
  app.add_option("--eval-gt", o.eval_gt, "folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat");
  app.add_option("--eval-long-side", o.eval_long_side, "evaluation resize of the long side (0: original size)")
      ->capture_default_str();
  app.add_flag("--eval-at-start", o.eval_at_start, "also evaluate the initial model (logged as epoch 0)");
  app.add_option("--eval-top-k", o.eval_top_k, "evaluation: candidates kept before NMS (-1: all)")->capture_default_str();
  app.add_option("--eval-keep-top-k", o.eval_keep_top_k, "evaluation: detections kept after NMS (-1: all)")
      ->capture_default_str();
  app.add_flag("--print-config", f.print_config, "print the effective configuration as TOML and exit")
      ->configurable(false);
  CLI11_PARSE(app, argc, argv);
  if (f.print_config) {
    std::cout << app.config_to_str(true, true);
    return 0;
  }
  try {
    check<ConfigError>(!f.labels.empty(), "--labels is required (on the command line or in the --config file)");
    if (f.threads > 0) set_num_threads(f.threads);
    L.augment.img_dim = static_cast<int>(img_dim);
    o.guarded = f.guarded;
    o.precision = parse_precision(f.precision);
    if (f.anchors == "1mb") {
      const auto m = models::RetinaFaceOptions::mobilenet025_1mb();
      o.model.min_sizes = m.min_sizes;
      o.model.backbone_slope = o.model.neck_slope = 0.0;
    } else {
      check<ConfigError>(f.anchors == "official", "--anchors: unknown family '", f.anchors, "'");
    }
    if (f.backbone == "resnet50") {
      const auto anchors = o.model.min_sizes;
      o.model = models::RetinaFaceOptions::resnet50();
      o.model.min_sizes = anchors;
      return train<models::ResNet50>(f, o, dp);
    }
    check<ConfigError>(f.backbone == "mobilenet0.25", "--backbone: unknown backbone '", f.backbone, "'");
    return train<models::MobileNetV1025>(f, o, dp);
  } catch (const std::exception& e) {
    return dp.fail("rfcf-train-detector", e, 1);
  }
}
