// Recognition training data: augmentation (exact flip, brightness/contrast/gamma against the
// naive formulas, blur kernels, motion-blur direction, determinism), ImageFolder and RecordIO
// datasets with identity filters, the threaded loader (normalisation, window, resize, worker-count
// independence, shards), identity splits and verification pairs.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/data/identity_split.hpp"
#include "rfcf/data/recognition_augment.hpp"
#include "rfcf/data/recognition_dataset.hpp"
#include "rfcf/data/recognition_loader.hpp"
#include "rfcf/data/threaded_loader.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/recordio.hpp"

#include <unistd.h>

using namespace rfcf;
using namespace rfcf::data;
namespace fs = std::filesystem;

namespace {

io::Image random_image(int w, int h, uint64_t seed) {
  Generator g(seed);
  io::Image img(w, h, 3);
  for (auto& p : img.pixels) p = static_cast<uint8_t>(g.integer(0, 255));
  return img;
}

uint8_t naive_round(double v) { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, std::floor(v + 0.5)))); }

// A temporary ImageFolder: identity k has counts[k] PNG images of size w x h ("id<k>/id<k>_000<n>.png").
struct TempFolder {
  fs::path root;
  TempFolder(const std::vector<int>& counts, int w, int h, const std::string& tag) {
    root = fs::temp_directory_path() / ("rfcf_recdata_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(root);
    for (size_t k = 0; k < counts.size(); ++k) {
      const std::string name = "id" + std::to_string(k);
      fs::create_directories(root / name);
      for (int n = 1; n <= counts[k]; ++n) {
        io::Image img = random_image(w, h, 1000 * k + static_cast<uint64_t>(n));
        img.pixels[0] = static_cast<uint8_t>(k);  // pixel (0, 0) red = identity, green = image number
        img.pixels[1] = static_cast<uint8_t>(n);
        io::write_png((root / name / (name + "_000" + std::to_string(n) + ".png")).string(), img);
      }
    }
  }
  ~TempFolder() { fs::remove_all(root); }
};

}  // namespace

TEST_CASE("recognition augment: flip mirrors pixels exactly, default is flip only with p = 0.5", "[data][recaug]") {
  const io::Image img = random_image(7, 5, 1);
  RecognitionAugmentOptions o = RecognitionAugmentOptions::none();
  o.flip_p = 1.0;
  Generator g(3);
  const io::Image out = augment_recognition(img, g, o);
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) REQUIRE(out.at(x, y)[c] == img.at(img.width - 1 - x, y)[c]);
  // Default: about half of the draws flip, nothing else changes.
  const RecognitionAugmentOptions d;
  CHECK(d.flip_p == 0.5);
  int flipped = 0;
  Generator g2(5);
  for (int i = 0; i < 400; ++i) {
    const io::Image r = augment_recognition(img, g2, d);
    if (r.pixels == out.pixels) ++flipped;
    else REQUIRE(r.pixels == img.pixels);
  }
  CHECK(flipped > 160);
  CHECK(flipped < 240);
}

TEST_CASE("recognition augment: brightness, contrast and gamma match the naive formulas", "[data][recaug]") {
  const io::Image img = random_image(9, 6, 2);
  const io::Image b = adjust_brightness(img, 1.17);
  const io::Image g = adjust_gamma(img, 0.8);
  const io::Image c = adjust_contrast(img, 0.85);
  double m = 0;
  for (int i = 0; i < img.width * img.height; ++i)
    m += 0.299 * img.pixels[3 * i] + 0.587 * img.pixels[3 * i + 1] + 0.114 * img.pixels[3 * i + 2];
  m /= img.width * img.height;
  CHECK(mean_luma(img) == Approx(m).epsilon(1e-12));
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const double v = img.pixels[i];
    REQUIRE(b.pixels[i] == naive_round(v * 1.17));
    REQUIRE(g.pixels[i] == naive_round(255.0 * std::pow(v / 255.0, 0.8)));
    REQUIRE(c.pixels[i] == naive_round((v - m) * 0.85 + m));
  }
  // Factor 1 / gamma 1 are the identity.
  CHECK(adjust_brightness(img, 1.0).pixels == img.pixels);
  CHECK(adjust_gamma(img, 1.0).pixels == img.pixels);
}

TEST_CASE("recognition augment: saturation 0 gives grey, hue 0 and saturation 1 stay within 1", "[data][recaug]") {
  const io::Image img = random_image(8, 8, 4);
  const io::Image grey = adjust_hue_saturation(img, 0, 0.0);
  for (int i = 0; i < 64; ++i) {
    const uint8_t* p = grey.data() + 3 * i;
    const uint8_t* q = img.data() + 3 * i;
    REQUIRE(p[0] == p[1]);
    REQUIRE(p[1] == p[2]);
    REQUIRE(p[0] == std::max(q[0], std::max(q[1], q[2])));  // V = max
  }
  const io::Image same = adjust_hue_saturation(img, 0, 1.0);
  int worst = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) worst = std::max(worst, std::abs(int(same.pixels[i]) - int(img.pixels[i])));
  CHECK(worst <= 3);  // 8-bit HSV round trip quantisation
}

TEST_CASE("recognition augment: blur kernels sum to 1, constant images stay constant", "[data][recaug]") {
  for (double sigma : {0.3, 0.8, 1.5, 3.0}) {
    const ImageKernel k = gaussian_kernel(sigma);
    CHECK(k.height == 2 * static_cast<int>(std::ceil(3 * sigma)) + 1);
    double s = 0;
    for (float w : k.weights) s += w;
    CHECK(s == Approx(1.0).margin(1e-5));
    // Symmetric, peak at the centre.
    CHECK(k.weights.front() == Approx(k.weights.back()));
    CHECK(*std::max_element(k.weights.begin(), k.weights.end()) == k.weights[k.weights.size() / 2]);
  }
  for (int len : {1, 3, 4, 7}) {
    for (double angle : {0.0, 33.0, 90.0, 135.0}) {
      const ImageKernel k = motion_blur_kernel(len, angle);
      double s = 0;
      for (float w : k.weights) s += w;
      CHECK(s == Approx(1.0).margin(1e-5));
    }
  }
  io::Image flat(12, 10, 3, io::ColorOrder::RGB, 0);
  for (size_t i = 0; i < flat.pixels.size(); ++i) flat.pixels[i] = static_cast<uint8_t>(i % 3 == 0 ? 200 : (i % 3 == 1 ? 17 : 255));
  CHECK(gaussian_blur(flat, 1.2).pixels == flat.pixels);
  CHECK(motion_blur(flat, 5, 60.0).pixels == flat.pixels);
  // Blur actually smooths: the variance of a random image drops.
  const io::Image r = random_image(16, 16, 9);
  const io::Image rb = gaussian_blur(r, 1.0);
  auto var = [](const io::Image& im) {
    double s = 0, ss = 0;
    for (uint8_t v : im.pixels) s += v, ss += double(v) * v;
    const double n = double(im.pixels.size());
    return ss / n - (s / n) * (s / n);
  };
  CHECK(var(rb) < 0.5 * var(r));
}

TEST_CASE("recognition augment: motion blur smears along its direction only", "[data][recaug]") {
  io::Image dot(15, 15, 3, io::ColorOrder::RGB, 0);
  for (int c = 0; c < 3; ++c) dot.at(7, 7)[c] = 250;
  auto lit = [](const io::Image& im) {
    std::vector<std::pair<int, int>> v;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x)
        if (im.at(x, y)[0] > 0) v.push_back({x, y});
    return v;
  };
  const auto h = lit(motion_blur(dot, 5, 0.0));
  REQUIRE(h.size() == 5);
  for (auto [x, y] : h) CHECK((y == 7 && x >= 5 && x <= 9));
  const auto v = lit(motion_blur(dot, 5, 90.0));
  REQUIRE(v.size() == 5);
  for (auto [x, y] : v) CHECK((x == 7 && y >= 5 && y <= 9));
  // 45 degrees (anticlockwise on screen): the lit pixels lie on the anti-diagonal x - 7 = 7 - y.
  const auto d = lit(motion_blur(dot, 5, 45.0));
  REQUIRE(d.size() >= 3);
  for (auto [x, y] : d) CHECK(x - 7 == 7 - y);
}

TEST_CASE("recognition augment: deterministic for a seed, all distortions active", "[data][recaug]") {
  const io::Image img = random_image(20, 24, 11);
  RecognitionAugmentOptions o = RecognitionAugmentOptions::mild();
  o.flip_p = o.brightness_p = o.contrast_p = o.hue_saturation_p = o.gamma_p = o.blur_p = o.motion_blur_p = 1.0;
  Generator a(42), b(42), c(43);
  const io::Image ra = augment_recognition(img, a, o), rb = augment_recognition(img, b, o), rc = augment_recognition(img, c, o);
  CHECK(ra.pixels == rb.pixels);
  CHECK(ra.pixels != rc.pixels);
  CHECK(ra.pixels != img.pixels);
  o.blur_sigma_min = 0;
  CHECK_THROWS_AS(o.validate(), ConfigError);
  CHECK_THROWS_AS(augment_recognition(io::Image(4, 4, 1), a, RecognitionAugmentOptions{}), ShapeError);
}

TEST_CASE("recognition dataset: ImageFolder with identity filters, RecordIO with the same content", "[data][recdata]") {
  TempFolder tf({3, 1, 5, 2}, 12, 10, "ds");
  const auto all = RecognitionDataset::image_folder(tf.root.string());
  CHECK(all.size() == 11);
  CHECK(all.num_classes() == 4);
  IdentityFilter f;
  f.min_images = 2;
  f.max_images = 4;
  const auto ds = RecognitionDataset::open(tf.root.string(), f);
  REQUIRE(ds.num_classes() == 3);
  CHECK(ds.class_names() == std::vector<std::string>{"id0", "id2", "id3"});
  CHECK(ds.size() == 3 + 4 + 2);
  for (size_t i = 0; i < ds.size(); ++i) {
    const io::Image img = ds.load(i);
    const int id = img.pixels[0];
    CHECK(ds.class_names()[static_cast<size_t>(ds.label(i))] == "id" + std::to_string(id));
  }
  f.allow = {"id3", "id0"};
  const auto listed = RecognitionDataset::image_folder(tf.root.string(), f);
  CHECK(listed.class_names() == std::vector<std::string>{"id0", "id3"});
  f.allow = {"nobody"};
  CHECK_THROWS_AS(RecognitionDataset::image_folder(tf.root.string(), f), ConfigError);
  CHECK_THROWS_AS(RecognitionDataset::open((tf.root / "missing").string()), IoError);

  // The same images packed into an insightface RecordIO file.
  const std::string rec = (tf.root / "train.rec").string();
  {
    io::InsightFaceRecordWriter w(rec);
    for (size_t i = 0; i < all.size(); ++i) w.add(all.label(i), io::encode_png(all.load(i)));
    w.close();
  }
  IdentityFilter two;
  two.min_images = 2;
  const auto rds = RecognitionDataset::open(rec, two);
  REQUIRE(rds.size() == 10);
  CHECK(rds.num_classes() == 3);
  CHECK(rds.class_names() == std::vector<std::string>{"0", "2", "3"});
  for (size_t i = 0; i < rds.size(); ++i) {
    const io::Image img = rds.load(i);
    CHECK(rds.class_names()[static_cast<size_t>(rds.label(i))] == std::to_string(img.pixels[0]));
  }
}

TEST_CASE("recognition loader: normalisation, window, resize, worker count, epochs", "[data][recloader]") {
  TempFolder tf({4, 4, 4}, 14, 12, "ld");
  RecognitionLoaderOptions o;
  o.batch_size = 5;
  o.augment = RecognitionAugmentOptions::none();
  o.crop_x = 2;
  o.crop_w = 10;
  o.seed = 7;
  RecognitionLoader one(RecognitionDataset::open(tf.root.string()), o);
  CHECK(one.input_w() == 10);
  CHECK(one.input_h() == 12);
  CHECK(one.batches_per_epoch() == 2);  // 12 samples, drop_last
  one.start_epoch(0);
  auto b = one.next();
  REQUIRE(b);
  REQUIRE(b->images.shape() == Shape{5, 3, 12, 10});
  // Pixel (x, y) channel c of sample 0 is (img[y][x + 2][c] - 127.5) / 128.
  const io::Image src = one.dataset().load(static_cast<size_t>(b->indices[0]));
  for (int c = 0; c < 3; ++c)
    for (int y : {0, 5, 11})
      for (int x : {0, 4, 9})
        REQUIRE(b->images.data()[((0 * 3 + c) * 12 + y) * 10 + x] == (src.at(x + 2, y)[c] - 127.5f) / 128.f);
  CHECK(b->labels[0] == one.dataset().label(static_cast<size_t>(b->indices[0])));

  // Results do not depend on the worker count; epochs differ; every sample at most once.
  o.augment = RecognitionAugmentOptions::mild();
  o.augment.blur_p = 0.5;
  o.resize_w = 8;
  o.resize_h = 9;
  o.workers = 1;
  RecognitionLoader a(RecognitionDataset::open(tf.root.string()), o);
  o.workers = 3;
  o.prefetch_batches = 1;
  RecognitionLoader c(RecognitionDataset::open(tf.root.string()), o);
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 2; ++e) {
    a.start_epoch(e);
    c.start_epoch(e);
    std::vector<int64_t> seen;
    while (auto x = a.next()) {
      auto y = c.next();
      REQUIRE(y);
      REQUIRE(x->images.shape() == Shape{5, 3, 9, 8});
      CHECK(x->images.to_vector() == y->images.to_vector());
      CHECK(x->labels == y->labels);
      seen.insert(seen.end(), x->indices.begin(), x->indices.end());
    }
    CHECK(!c.next());
    CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 10);
    orders.push_back(seen);
  }
  CHECK(orders[0] != orders[1]);
  // Resuming inside an epoch delivers the same later batches.
  a.start_epoch(1, 1);
  auto late = a.next();
  REQUIRE(late);
  CHECK(std::vector<int64_t>(orders[1].begin() + 5, orders[1].end()) == late->indices);
}

TEST_CASE("recognition loader: shard(rank, world) partitions every epoch disjointly", "[data][recloader]") {
  TempFolder tf({5, 4, 6, 3}, 8, 8, "sh");  // 18 samples
  RecognitionLoaderOptions o;
  o.batch_size = 2;
  o.seed = 3;
  const int world = 4;
  for (int64_t epoch : {0, 5}) {
    std::set<int64_t> all;
    size_t total = 0;
    std::vector<int64_t> global;
    for (int r = 0; r < world; ++r) {
      RecognitionLoader l(RecognitionDataset::open(tf.root.string()), o);
      l.shard(r, world);
      CHECK(l.samples_per_epoch() == 4);  // floor(18 / 4)
      CHECK(l.batches_per_epoch() == 2);
      if (r == 0) global = l.epoch_order(epoch);
      CHECK(l.epoch_order(epoch) == global);  // the same permutation on every rank
      const auto idx = l.shard_indices(epoch);
      // What the loader delivers is exactly the shard.
      l.start_epoch(epoch);
      std::vector<int64_t> got;
      while (auto b = l.next()) got.insert(got.end(), b->indices.begin(), b->indices.end());
      CHECK(got == idx);
      for (size_t k = 0; k < idx.size(); ++k) CHECK(idx[k] == global[static_cast<size_t>(r) + k * world]);
      all.insert(idx.begin(), idx.end());
      total += idx.size();
    }
    CHECK(total == 16);
    CHECK(all.size() == 16);  // disjoint
  }
  RecognitionLoader l(RecognitionDataset::open(tf.root.string()), o);
  CHECK_THROWS_AS(l.shard(4, 4), ConfigError);
  CHECK_THROWS_AS(l.shard(0, 10), ConfigError);  // fewer than one batch per rank
}

TEST_CASE("recognition loader: a corrupt image names its file", "[data][recloader]") {
  TempFolder tf({3, 3}, 8, 8, "bad");
  io::atomic_write((tf.root / "id1" / "id1_0002.png").string(), std::string("not an image"));
  RecognitionLoaderOptions o;
  o.batch_size = 6;
  o.shuffle = false;
  RecognitionLoader l(RecognitionDataset::open(tf.root.string()), o);
  l.start_epoch(0);
  try {
    l.next();
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("id1_0002.png") != std::string::npos);
  }
}

TEST_CASE("identity split and verification pairs are deterministic and identity-disjoint", "[data][split]") {
  std::vector<std::string> names;
  for (int i = 0; i < 50; ++i) names.push_back("person_" + std::to_string(i));
  const IdentitySplit s = split_identities(names, 0.2, 1);
  CHECK(s.test.size() == 10);
  CHECK(s.train.size() == 40);
  CHECK(split_identities(names, 0.2, 1).test == s.test);
  CHECK(split_identities(names, 0.2, 2).test != s.test);
  std::set<std::string> tr(s.train.begin(), s.train.end());
  for (const auto& t : s.test) CHECK(!tr.count(t));

  CHECK(lfw_image_number("Abel_Pacheco", "Abel_Pacheco_0004.jpg") == 4);
  CHECK(lfw_image_number("Abel", "Abel_Pacheco_0004.jpg") == -1);
  std::map<std::string, std::vector<int>> imgs;
  for (size_t i = 0; i < s.test.size(); ++i)
    for (int n = 1; n <= 3 + static_cast<int>(i); ++n) imgs[s.test[i]].push_back(n);
  const auto p = make_verification_pairs(imgs, 10, 20, 5);
  CHECK(p.pairs_per_class == 20);
  REQUIRE(p.pairs.size() == 400);
  std::set<std::string> keys;
  for (size_t i = 0; i < p.pairs.size(); ++i) {
    const auto& q = p.pairs[i];
    CHECK(q.fold == static_cast<int>(i / 40));
    CHECK(q.same == (i % 40 < 20));
    CHECK((q.name1 == q.name2) == q.same);
    if (q.same) CHECK(q.n1 != q.n2);
    CHECK(imgs.count(q.name1));
    keys.insert(q.path1() + "|" + q.path2());
  }
  CHECK(keys.size() == 400);
  // Round trip through the pairs.txt format.
  std::istringstream in(format_lfw_pairs(p));
  const auto back = recognition::parse_lfw_pairs(in);
  REQUIRE(back.pairs.size() == p.pairs.size());
  for (size_t i = 0; i < p.pairs.size(); ++i) CHECK(back.pairs[i].path2() == p.pairs[i].path2());
  // Too few same pairs: per_fold shrinks.
  std::map<std::string, std::vector<int>> few{{"a", {1, 2}}, {"b", {1, 2, 3}}};
  CHECK(make_verification_pairs(few, 2, 10, 0).pairs_per_class == 2);
}

TEST_CASE("BatchPipeline: batches in order, the first worker exception is rethrown", "[data][recloader]") {
  BatchPipeline<int> p(2, 2);
  CHECK_THROWS_AS(p.next(), Error);
  p.start(5, [](int64_t b) {
    if (b == 3) throw FormatError("batch three");
    return static_cast<int>(b * 10);
  });
  CHECK(*p.next() == 0);
  CHECK(*p.next() == 10);
  CHECK(*p.next() == 20);
  CHECK_THROWS_AS(p.next(), FormatError);
}
