// Verification metrics on hand-computed score sets, LFW pairs.txt parsing, embedding helpers, gallery.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "rfcf/cpu.hpp"
#include "rfcf/recognition.hpp"

using namespace rfcf;
using namespace rfcf::recognition;

namespace {
// 10 folds x 4 pairs (same, same, different, different); fold 0 has one impostor scoring 0.7.
void ten_folds(std::vector<double>& s, std::vector<uint8_t>& same, bool distance) {
  for (int k = 0; k < 10; ++k) {
    const double sims[4] = {0.8, 0.6, 0.2, k == 0 ? 0.7 : 0.4};
    const double dists[4] = {0.4, 0.75, 1.6, k == 0 ? 0.55 : 1.25};
    for (int j = 0; j < 4; ++j) {
      s.push_back(distance ? dists[j] : sims[j]);
      same.push_back(j < 2);
    }
  }
}
VerificationProtocol grid_percent() {
  VerificationProtocol p = VerificationProtocol::lfw_cosine();
  p.thresholds.clear();
  for (int i = 0; i <= 100; ++i) p.thresholds.push_back(i / 100.0);
  return p;
}
}  // namespace

TEST_CASE("accuracy at a threshold follows each protocol's comparison", "[recognition][verification]") {
  const std::vector<double> s{0.9, 0.5, 0.3, 0.1};
  const std::vector<uint8_t> same{1, 1, 0, 0};
  CHECK(accuracy_at(s, same, 0.3, ScoreRule::similarity_strict) == 0.75);  // a different pair at thr is wrong
  CHECK(accuracy_at(s, same, 0.5, ScoreRule::similarity_strict) == 0.75);  // a same pair at thr is wrong
  CHECK(accuracy_at(s, same, 0.4, ScoreRule::similarity_strict) == 1.0);
  const std::vector<double> d{0.5, 1.0, 2.0, 3.0};
  CHECK(accuracy_at(d, same, 1.0, ScoreRule::distance) == 0.75);  // same iff d < thr
  CHECK(accuracy_at(d, same, 2.0, ScoreRule::distance) == 1.0);   // d == thr predicts different: right
  CHECK_THROWS_AS(accuracy_at(s, {1, 0}, 0.3, ScoreRule::distance), ShapeError);
}

TEST_CASE("best threshold: mean of maxima versus first maximum", "[recognition][verification]") {
  const std::vector<double> s{0.9, 0.5, 0.3, 0.1};
  const std::vector<uint8_t> same{1, 1, 0, 0};
  VerificationProtocol p = grid_percent();
  auto mean = best_threshold(s, same, p);  // 0.31 .. 0.49 all reach 100 %
  CHECK(mean.threshold == Approx(0.40));
  CHECK(mean.accuracy == 1.0);
  p.choice = ThresholdChoice::first_maximum;
  CHECK(best_threshold(s, same, p).threshold == Approx(0.31));
}

TEST_CASE("10-fold accuracy P1 and insightface on a hand-computed set", "[recognition][verification]") {
  std::vector<double> s;
  std::vector<uint8_t> same;
  ten_folds(s, same, false);
  auto p1 = kfold_accuracy(s, same, VerificationProtocol::lfw_cosine());
  REQUIRE(p1.fold_accuracy.size() == 10);
  CHECK(p1.fold_accuracy[0] == 0.75);
  for (int k = 1; k < 10; ++k) CHECK(p1.fold_accuracy[k] == 1.0);
  for (int k = 0; k < 10; ++k) CHECK(p1.fold_threshold[k] == Approx(0.5).margin(1e-12));  // mean of 0.4001..0.5999
  CHECK(p1.mean_accuracy == Approx(0.975));
  CHECK(p1.std_accuracy == Approx(0.075));  // population std

  std::vector<double> d;
  std::vector<uint8_t> same_d;
  ten_folds(d, same_d, true);
  auto ins = kfold_accuracy(d, same_d, VerificationProtocol::insightface());
  for (int k = 0; k < 10; ++k) CHECK(ins.fold_threshold[k] == Approx(0.76));  // first grid value above 0.75
  CHECK(ins.fold_accuracy[0] == 0.75);
  CHECK(ins.mean_accuracy == Approx(0.975));
  CHECK(ins.std_accuracy == Approx(0.075));
  CHECK_THROWS_AS(kfold_accuracy(std::vector<double>(41, 0.0), std::vector<uint8_t>(41, 1),
                                 VerificationProtocol::lfw_cosine()),
                  ShapeError);
}

TEST_CASE("P2 subtracts the training-fold mean feature", "[recognition][verification]") {
  // Pairs come with their negated copy in the same fold, so every training mean is zero and
  // P2 equals P1; a constant offset on all features then changes P1 but not P2.
  Generator g(4);
  const int64_t n = 40, d = 3;
  Tensor<double, cpu> a(Shape{n, d}), b(Shape{n, d});
  std::vector<uint8_t> same;
  for (int64_t i = 0; i < n; i += 2) {
    const bool s = (i / 2) % 2 == 0;
    for (int64_t k = 0; k < d; ++k) {
      const double x = g.normal(), y = s ? x + 0.6 * g.normal() : g.normal();
      a.data()[i * d + k] = x;
      b.data()[i * d + k] = y;
      a.data()[(i + 1) * d + k] = -x;
      b.data()[(i + 1) * d + k] = -y;
    }
    same.push_back(s);
    same.push_back(s);
  }
  const auto proto = VerificationProtocol::lfw_cosine();
  auto p1 = kfold_accuracy(pair_cosines(a, b), same, proto);
  auto p2 = kfold_accuracy_mean_subtracted(a, b, same, proto);
  CHECK(p2.mean_accuracy == Approx(p1.mean_accuracy));
  for (int k = 0; k < 10; ++k) CHECK(p2.fold_threshold[k] == Approx(p1.fold_threshold[k]).margin(1e-9));
  Tensor<double, cpu> a2 = a.clone(), b2 = b.clone();
  for (int64_t i = 0; i < n * d; ++i) {
    a2.data()[i] += 5.0;
    b2.data()[i] += 5.0;
  }
  auto p2_shifted = kfold_accuracy_mean_subtracted(a2, b2, same, proto);
  CHECK(p2_shifted.mean_accuracy == Approx(p2.mean_accuracy));
  for (int k = 0; k < 10; ++k) CHECK(p2_shifted.fold_threshold[k] == Approx(p2.fold_threshold[k]).margin(1e-9));
  auto p1_shifted = pair_cosines(a2, b2);
  CHECK(*std::min_element(p1_shifted.begin(), p1_shifted.end()) > 0.5);  // the offset dominates P1 scores
}

TEST_CASE("ROC points and CSV", "[recognition][verification]") {
  const std::vector<double> s{0.9, 0.5, 0.3, 0.1};
  const std::vector<uint8_t> same{1, 1, 0, 0};
  auto r = roc(s, same, {0.0, 0.4, 0.95}, ScoreRule::similarity_strict);
  REQUIRE(r.size() == 3);
  CHECK((r[0].tpr == 1.0 && r[0].fpr == 1.0));
  CHECK((r[1].tpr == 1.0 && r[1].fpr == 0.0));
  CHECK((r[2].tpr == 0.0 && r[2].fpr == 0.0));
  auto rd = roc({0.5, 1.0, 2.0, 3.0}, same, {1.0}, ScoreRule::distance);
  CHECK((rd[0].tpr == 0.5 && rd[0].fpr == 0.0));
  const std::string path = (std::filesystem::temp_directory_path() / "rfcf_roc_test.csv").string();
  write_roc_csv(path, r);
  std::ifstream f(path);
  std::string header, line1;
  std::getline(f, header);
  std::getline(f, line1);
  CHECK(header == "threshold,tpr,fpr");
  CHECK(line1 == "0,1,1");
  std::remove(path.c_str());
  CHECK_THROWS_AS(write_roc_csv("/nonexistent_dir_rfcf/roc.csv", r), IoError);
  // Fold-averaged ROC: fold 0 of the ten-fold set has one impostor at 0.7 (FPR 0.5 there at 0.65).
  std::vector<double> t;
  std::vector<uint8_t> tsame;
  ten_folds(t, tsame, false);
  VerificationProtocol p = VerificationProtocol::lfw_cosine();
  p.thresholds = {0.5, 0.65};
  auto kr = kfold_roc(t, tsame, p);
  CHECK(kr[0].tpr == Approx(1.0));
  CHECK(kr[0].fpr == Approx(0.05));
  CHECK(kr[1].tpr == Approx(0.5));
  CHECK(kr[1].fpr == Approx(0.05));
}

TEST_CASE("TAR at FAR with the documented tie rule", "[recognition][verification]") {
  std::vector<double> s;
  std::vector<uint8_t> same;
  for (int i = 0; i < 1000; ++i) {
    s.push_back(i / 1000.0);
    same.push_back(0);
  }
  for (double v : {0.9995, 0.999, 0.9985, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3}) {
    s.push_back(v);
    same.push_back(1);
  }
  auto r3 = tar_at_far(s, same, 1e-3);  // one impostor (0.999) may pass: accept > 0.998
  CHECK(r3.threshold == 0.998);
  CHECK(r3.far == 0.001);
  CHECK(r3.tar == Approx(0.3));
  auto r4 = tar_at_far(s, same, 1e-4);  // none may pass: accept > 0.999
  CHECK(r4.threshold == 0.999);
  CHECK(r4.far == 0.0);
  CHECK(r4.tar == Approx(0.1));
  // Ties: the two best impostors score the same, so allowing one admits neither.
  const std::vector<double> t{0.9, 0.9, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2, 0.95, 0.85};
  std::vector<uint8_t> tsame(10, 0);
  tsame.push_back(1);
  tsame.push_back(1);
  auto rt = tar_at_far(t, tsame, 0.1);
  CHECK(rt.far == 0.0);
  CHECK(rt.tar == 0.5);
  // Distances: smaller is more similar.
  std::vector<double> dist;
  for (double v : t) dist.push_back(2 - 2 * v);
  auto rd = tar_at_far(dist, tsame, 0.1, ScoreRule::distance);
  CHECK(rd.tar == 0.5);
  CHECK(rd.threshold == Approx(0.2));
  CHECK_THROWS_AS(tar_at_far(t, std::vector<uint8_t>(12, 0), 0.1), ShapeError);
}

TEST_CASE("LFW pairs.txt of shared/lfw parses and validates", "[recognition][verification][lfw]") {
  const std::string dir = std::string(RFCF_SHARED_DIR) + "/lfw";
  auto pairs = read_lfw_pairs(dir + "/pairs.txt");
  CHECK(pairs.folds == 10);
  CHECK(pairs.pairs_per_class == 300);
  REQUIRE(pairs.pairs.size() == 6000);
  CHECK(pairs.pairs[0].path1() == "Abel_Pacheco/Abel_Pacheco_0001.jpg");
  CHECK(pairs.pairs[0].path2() == "Abel_Pacheco/Abel_Pacheco_0004.jpg");
  CHECK(pairs.pairs[0].same);
  CHECK(!pairs.pairs[300].same);
  CHECK(pairs.pairs[300].fold == 0);
  CHECK(pairs.pairs[600].fold == 1);
  CHECK(pairs.pairs[600].same);
  int n_same = 0;
  for (auto f : pairs.same_flags()) n_same += f;
  CHECK(n_same == 3000);
  auto images = pairs.distinct_images();
  CHECK(images.size() == 7701);
  int missing = 0;
  for (const auto& p : images) missing += !std::filesystem::exists(dir + "/lfw_112x112/" + p);
  CHECK(missing == 0);
}

TEST_CASE("malformed pairs.txt is rejected with the line named", "[recognition][verification][lfw]") {
  auto parse = [](const std::string& text) {
    std::istringstream in(text);
    return parse_lfw_pairs(in, "test.txt");
  };
  const std::string ok = "1\t2\nA\t1\t2\nB\t1\t3\nA\t1\tB\t2\nC\t4\tD\t1\n";
  auto p = parse(ok);
  CHECK(p.pairs.size() == 4);
  CHECK(p.pairs[3].path1() == "C/C_0004.jpg");
  CHECK_THROWS_AS(parse(""), FormatError);
  CHECK_THROWS_AS(parse("1 2\nA\t1\t2\n"), FormatError);                                  // header
  CHECK_THROWS_AS(parse("1\t2\nA\t1\t2\nB\t1\t3\nA\t1\tB\t2\n"), FormatError);            // too few lines
  CHECK_THROWS_AS(parse(ok + "E\t1\t2\n"), FormatError);                                   // too many lines
  CHECK_THROWS_AS(parse("1\t2\nA\t1\t2\nB\t1\tC\t3\nA\t1\tB\t2\nC\t4\tD\t1\n"), FormatError);  // 4 fields in same
  CHECK_THROWS_AS(parse("1\t2\nA\t1\t2\nB\t1\t3\nA\t1\t2\nC\t4\tD\t1\n"), FormatError);   // 3 fields in different
  CHECK_THROWS_AS(parse("1\t2\nA\tx\t2\nB\t1\t3\nA\t1\tB\t2\nC\t4\tD\t1\n"), FormatError);  // number
  CHECK_THROWS_AS(parse("1\t2\n../A\t1\t2\nB\t1\t3\nA\t1\tB\t2\nC\t4\tD\t1\n"), FormatError);  // path in name
  try {
    parse("1\t2\nA\t1\t2\nB\t1\t3\nA\t1\t2\nC\t4\tD\t1\n");
  } catch (const FormatError& e) {
    CHECK(std::string(e.what()).find("test.txt:4") != std::string::npos);
  }
  CHECK_THROWS_AS(read_lfw_pairs("/nonexistent/pairs.txt"), IoError);
}

TEST_CASE("embedding helpers: normalise, flip-sum, flip-concat, cosine", "[recognition][verification]") {
  auto f = Tensor<float, cpu>::from_host(Shape{2, 2}, {3, 4, 0, 0});
  auto g = Tensor<float, cpu>::from_host(Shape{2, 2}, {1, 2, 5, 6});
  CHECK(l2_normalize(f).to_vector() == std::vector<float>{0.6f, 0.8f, 0, 0});  // zero rows stay zero
  CHECK(flip_sum(f, g).to_vector() == std::vector<float>{4, 6, 5, 6});
  auto c = flip_concat(f, g);
  CHECK(c.shape() == Shape{2, 4});
  CHECK(c.to_vector() == std::vector<float>{3, 4, 1, 2, 0, 0, 5, 6});
  const double a[2] = {1, 0}, b[2] = {1, 1};
  CHECK(cosine_similarity(a, b, 2) == Approx(std::sqrt(0.5)));
  CHECK(squared_distance(a, b, 2) == 1.0);
  CHECK(pair_squared_distances(f, g) == std::vector<double>{4 + 4, 25 + 36});
  CHECK_THROWS_AS(flip_concat(f, Tensor<float, cpu>(Shape{2, 3})), ShapeError);
}

TEST_CASE("gallery returns the top-k by cosine", "[recognition][verification]") {
  Gallery<float, cpu> gallery(3);
  gallery.add(Tensor<float, cpu>::from_host(Shape{3, 3}, {1, 0, 0, 0, 2, 0, 1, 1, 0}), {10, 20, 30}, {"a", "b", "c"});
  gallery.add(Tensor<float, cpu>::from_host(Shape{1, 3}, {0, 0, 5}), {40});
  CHECK(gallery.size() == 4);
  auto hits = gallery.search(Tensor<float, cpu>::from_host(Shape{2, 3}, {1, 0.1f, 0, 0, 0, -1}), 2);
  REQUIRE(hits.size() == 2);
  REQUIRE(hits[0].size() == 2);
  CHECK(hits[0][0].id == 10);
  CHECK(hits[0][0].name == "a");
  CHECK(hits[0][1].id == 30);
  CHECK(hits[0][0].score == Approx(1 / std::sqrt(1.01)));
  CHECK(hits[1][0].score == Approx(0.0).margin(1e-6));  // ties at 0: lowest index first
  CHECK(hits[1][0].index == 0);
  CHECK(gallery.search(Tensor<float, cpu>::from_host(Shape{1, 3}, {0, 0, 1}), 10)[0].size() == 4);
  CHECK_THROWS_AS(gallery.add(Tensor<float, cpu>(Shape{1, 2}), {1}), ShapeError);
  CHECK_THROWS_AS(gallery.search(Tensor<float, cpu>(Shape{1, 3}), 0), ConfigError);
}
