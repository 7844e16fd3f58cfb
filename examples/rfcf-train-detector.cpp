// RetinaFace (MobileNet-0.25) training on the CPU following the reference recipe (retinaface.md 8):
// WIDER label.txt -> threaded loader (augmentation) -> RetinaFace -> MultiBoxLoss -> SGD with
// step decay; CSV log per iteration and a checkpoint per epoch. A skeleton: no ImageNet backbone
// loading and no CUDA path yet (see docs/detector_training.md).
//   rfcf-train-detector --labels widerface/train/label.txt --out run/ [--epochs 250] [--batch 32]
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "rfcf/cpu.hpp"
#include "rfcf/data.hpp"
#include "rfcf/detection.hpp"
#include "rfcf/models.hpp"
#include "rfcf/train.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Train RetinaFace MobileNet-0.25 (reference recipe)"};
  std::string labels, out = "run";
  int64_t epochs = 250, batch = 32, img_dim = 640, decay1 = 190, decay2 = 220, max_iters = 0;
  int workers = 4;
  uint64_t seed = 0;
  double lr = 1e-3;
  app.add_option("--labels", labels, "train/label.txt (images under <dir>/images)")->required();
  app.add_option("--out", out, "output folder for log.csv and checkpoints");
  app.add_option("--epochs", epochs, "epochs (250)");
  app.add_option("--batch", batch, "batch size (32)");
  app.add_option("--img-dim", img_dim, "training input size (640)");
  app.add_option("--lr", lr, "initial learning rate (1e-3)");
  app.add_option("--decay1", decay1, "first x0.1 epoch (190)");
  app.add_option("--decay2", decay2, "second x0.1 epoch (220)");
  app.add_option("--workers", workers, "loader threads (4)");
  app.add_option("--seed", seed, "data order / augmentation seed");
  bool guarded = false;
  app.add_flag("--guarded", guarded, "guarded matching: invalid gts take no priors, degenerate boxes dropped");
  app.add_option("--max-iters", max_iters, "stop after this many iterations (0: no limit; for smoke runs)");
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace rfcf;
    std::filesystem::create_directories(out);
    data::WiderLabelSet set = data::read_wider_labels(labels);
    std::printf("%zu images, %lld faces (%lld without landmarks), %lld empty images skipped\n", set.images.size(),
                static_cast<long long>(set.faces), static_cast<long long>(set.faces_without_landmarks),
                static_cast<long long>(set.skipped_empty));

    data::DetectionLoaderOptions lo;
    lo.workers = workers;
    lo.batch_size = batch;
    lo.seed = seed;
    lo.augment.img_dim = static_cast<int>(img_dim);
    data::DetectionLoader loader(std::move(set.images), lo);

    models::RetinaFace<models::MobileNetV1025, cpu> net;
    net.train();
    nn::FlatParameters<float, cpu> params(net);
    train::SGD<float, cpu> sgd(params, train::SGDOptions{lr, 0.9, 0.0, 5e-4, false});
    const int64_t epoch_size = loader.batches_per_epoch();
    const auto schedule = train::MultiStepLr::from_epochs(lr, {decay1, decay2}, epoch_size);
    detection::MultiBoxLossOptions loss_options;
    loss_options.match.guarded = guarded;
    detection::MultiBoxLoss<float, cpu> criterion(loss_options);
    detection::PriorCache priors(detection::PriorBoxOptions::official());

    int64_t step = 0, epoch = 0;
    train::Checkpoint ckpt;
    ckpt.model(net).optimizer(sgd).counter("step", step).counter("epoch", epoch);
    train::CsvLogger log(out + "/log.csv", {"step", "epoch", "lr", "loss", "loc", "conf", "landm", "images_per_s"});
    for (; epoch < epochs; ++epoch) {
      loader.start_epoch(epoch);
      while (auto b = loader.next()) {
        sgd.set_lr(schedule.at(step));
        sgd.zero_grad();
        const auto pred = net.forward(b->images);
        const auto parts = criterion.forward(pred, b->targets, priors.get(img_dim, img_dim));
        net.backward(criterion.backward());
        sgd.step();
        log.row({double(step), double(epoch), sgd.lr(), parts.total, parts.loc, parts.conf, parts.landm,
                 loader.images_per_second()});
        if (step % 10 == 0)
          std::printf("epoch %lld step %lld lr %.1e loss %.4f (loc %.4f conf %.4f landm %.4f) %.1f img/s\n",
                      static_cast<long long>(epoch), static_cast<long long>(step), sgd.lr(), parts.total, parts.loc,
                      parts.conf, parts.landm, loader.images_per_second());
        ++step;
        if (max_iters > 0 && step >= max_iters) break;
      }
      if (max_iters > 0 && step >= max_iters) break;
      ckpt.save(out + "/last.safetensors");
    }
    ckpt.save(out + "/final.safetensors");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rfcf-train-detector: %s\n", e.what());
    return 1;
  }
  return 0;
}
