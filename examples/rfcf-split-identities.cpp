// Identity-disjoint split of an LFW-style ImageFolder (<name>/<name>_<NNNN>.jpg) for learning
// experiments: identities with at least --min-images images are split train/test by a seeded
// shuffle; verification pairs (LFW pairs.txt format) are drawn from the test identities.
//   rfcf-split-identities --root ../shared/lfw/lfw_112x112 --min-images 5 --test-fraction 0.2 --out split/
// writes split/train_identities.txt, split/test_identities.txt, split/test_pairs.txt; train with
//   rfcf-train-recognizer --data ROOT --identity-list split/train_identities.txt
//       --eval-pairs split/test_pairs.txt --eval-images ROOT ...
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rfcf/data/identity_split.hpp"
#include "rfcf/io/image_folder.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Identity-disjoint train/test split and verification pairs for an LFW-style image folder"};
  std::string root, out = "split";
  int64_t min_images = 5;
  double test_fraction = 0.2;
  uint64_t seed = 0;
  int folds = 10, per_fold = 300, max_per_identity = 40;
  app.add_option("--root", root, "image folder: <name>/<name>_<NNNN>.jpg")->required();
  app.add_option("--min-images", min_images, "keep identities with at least this many images")->capture_default_str();
  app.add_option("--test-fraction", test_fraction, "fraction of identities held out")->capture_default_str();
  app.add_option("--seed", seed, "split and pair seed")->capture_default_str();
  app.add_option("--folds", folds, "verification folds")->capture_default_str();
  app.add_option("--pairs-per-fold", per_fold, "same (and as many different) pairs per fold, fewer if not available")
      ->capture_default_str();
  app.add_option("--max-per-identity", max_per_identity, "images per identity used for same pairs")->capture_default_str();
  app.add_option("--out", out, "output folder")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    using namespace rfcf;
    const io::ImageFolder folder(root);
    std::map<std::string, std::vector<int>> numbers;
    for (const auto& e : folder.entries()) {
      const std::string& name = folder.classes()[static_cast<size_t>(e.label)];
      const std::string file = std::filesystem::path(e.path).filename().string();
      const int n = data::lfw_image_number(name, file);
      check<FormatError>(n >= 0, "'", e.path, "' is not named <identity>_<number>.<ext>");
      numbers[name].push_back(n);
    }
    std::vector<std::string> kept;
    size_t images = 0;
    for (const auto& [name, nums] : numbers)
      if (static_cast<int64_t>(nums.size()) >= min_images) kept.push_back(name), images += nums.size();
    const data::IdentitySplit split = data::split_identities(kept, test_fraction, seed);
    std::map<std::string, std::vector<int>> test_images;
    size_t train_images = 0;
    for (const auto& n : split.test) test_images[n] = numbers.at(n);
    for (const auto& n : split.train) train_images += numbers.at(n).size();
    const recognition::LfwPairs pairs = data::make_verification_pairs(test_images, folds, per_fold, seed, max_per_identity);
    std::filesystem::create_directories(out);
    data::write_identity_list(out + "/train_identities.txt", split.train);
    data::write_identity_list(out + "/test_identities.txt", split.test);
    data::write_lfw_pairs(out + "/test_pairs.txt", pairs);
    std::printf("%zu identities with >= %lld images (%zu images): train %zu identities / %zu images, test %zu identities / %zu images\n",
                kept.size(), static_cast<long long>(min_images), images, split.train.size(), train_images, split.test.size(),
                images - train_images);
    std::printf("verification pairs: %d folds x (%d same + %d different) = %zu pairs -> %s/test_pairs.txt\n", folds,
                pairs.pairs_per_class, pairs.pairs_per_class, pairs.pairs.size(), out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rfcf-split-identities: %s\n", e.what());
    return 1;
  }
  return 0;
}
