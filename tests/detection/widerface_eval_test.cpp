// WIDER FACE evaluator: golden scenarios A and B of retinaface.md 11.7 on the real ground truth,
// hand-computed small cases, subsets, result-file round trips and the PR-curve CSV.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "rfcf/detection/widerface_eval.hpp"
#include "rfcf/detection/wider_results.hpp"
#include "rfcf/detection/widerface_plot.hpp"

using namespace rfcf;
using namespace rfcf::detection;

namespace {
const std::string kGtDir = std::string(RFCF_SHARED_DIR) + "/widerface/ground_truth";

const WiderGroundTruth& ground_truth() {
  static const WiderGroundTruth gt = load_wider_ground_truth(kGtDir);
  return gt;
}

// Predictions built from the ground truth (11.7): face k gets score 1/(k+1); scenario B shifts x.
WiderPredictions golden_predictions(bool shift) {
  WiderPredictions p;
  for (const auto& ev : ground_truth().events)
    for (const auto& im : ev.images) {
      auto& v = p[ev.name][im.stem];
      for (size_t k = 0; k < im.boxes.size(); ++k) {
        auto b = im.boxes[k];
        if (shift) b[0] += std::floor(b[2] * static_cast<double>(k % 3) / 4.0);
        v.push_back({b[0], b[1], b[2], b[3], 1.0 / static_cast<double>(k + 1)});
      }
    }
  return p;
}

// A one-event ground truth built by hand.
WiderGroundTruth tiny_gt(std::vector<std::array<double, 4>> boxes, std::array<std::vector<int64_t>, 3> keep) {
  WiderGroundTruth gt;
  gt.events.push_back({"0--Parade", {}});
  WiderImageGt im;
  im.stem = "0_Parade_0";
  im.boxes = std::move(boxes);
  im.keep = std::move(keep);
  gt.events[0].images.push_back(im);
  return gt;
}
}  // namespace

TEST_CASE("widerface eval: ground truth loader statistics") {
  const auto& gt = ground_truth();
  REQUIRE(gt.events.size() == 61);
  CHECK(gt.events[0].name == "0--Parade");
  CHECK(gt.image_count() == 3226);
  int64_t boxes = 0;
  std::array<int64_t, 3> kept{}, no_kept{};
  for (const auto& ev : gt.events)
    for (const auto& im : ev.images) {
      boxes += static_cast<int64_t>(im.boxes.size());
      for (int s = 0; s < 3; ++s) {
        kept[s] += static_cast<int64_t>(im.keep[s].size());
        no_kept[s] += im.keep[s].empty();
      }
    }
  CHECK(boxes == 39708);
  CHECK(kept == std::array<int64_t, 3>{7211, 13319, 31958});
  CHECK(no_kept == std::array<int64_t, 3>{622, 207, 7});
  CHECK_THROWS_AS(load_wider_ground_truth("/nonexistent"), IoError);
}

TEST_CASE("widerface eval: golden scenario A (predictions = ground truth)") {
  auto r = evaluate_widerface(ground_truth(), golden_predictions(false));
  CHECK(r.score_min == Approx(1.0 / 709).epsilon(1e-15));
  CHECK(r.score_max == 1.0);
  CHECK(r.face_count == std::array<int64_t, 3>{7211, 13319, 31958});
  CHECK(std::fabs(r.ap[0] - 0.999968657301084) < 1e-12);
  CHECK(std::fabs(r.ap[1] - 0.999971179603660) < 1e-12);
  CHECK(std::fabs(r.ap[2] - 0.999909436014279) < 1e-12);
}

TEST_CASE("widerface eval: golden scenario B (shifted boxes)") {
  auto r = evaluate_widerface(ground_truth(), golden_predictions(true));
  CHECK(std::fabs(r.ap[0] - 0.666952711032650) < 1e-12);
  CHECK(std::fabs(r.ap[1] - 0.608108743892134) < 1e-12);
  CHECK(std::fabs(r.ap[2] - 0.559027967156106) < 1e-12);
}

TEST_CASE("widerface eval: hand-computed AP on a tiny case") {
  // Three gts, all kept in every setting. Predictions (already in descending score):
  //   h0 score 0.9 on gt0 (TP), h1 score 0.5 nowhere (FP), h2 score 0.1 on gt1 (TP).
  // Normalised scores: (s - 0.1) / 0.8 = 1, 0.5, 0.
  // Thresholds t: thresh >= 0.5 region (t < 500): last index 0 for thresh in (0.5, 0.999],
  // index 1 for thresh <= 0.5, index 2 only at thresh 0.0.
  //   thresh in [0.501, 0.999]: proposals 1, tp 1 -> P 1, R 1/3
  //   thresh in [0.001, 0.5]:   proposals 2, tp 1 -> P 0.5, R 1/3
  //   thresh 0.0:               proposals 3, tp 2 -> P 2/3, R 2/3
  // VOC AP: mrec = [0, 1/3 ..., 2/3, 1], mpre after max-propagation: precision 1 up to R 1/3,
  // 2/3 from 1/3 to 2/3 -> AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
  auto gt = tiny_gt({{0, 0, 10, 10}, {100, 100, 20, 20}, {200, 0, 30, 30}}, {{{0, 1, 2}, {0, 1, 2}, {0, 1, 2}}});
  WiderPredictions p;
  p["0--Parade"]["0_Parade_0"] = {{0, 0, 10, 10, 0.9}, {400, 400, 10, 10, 0.5}, {101, 100, 20, 20, 0.1}};
  auto r = evaluate_widerface(gt, p);
  for (int s = 0; s < 3; ++s) CHECK(r.ap[s] == Approx(5.0 / 9.0).epsilon(1e-14));
  CHECK(r.curves[0].precision[0] == 1.0);
  CHECK(r.curves[0].recall[0] == Approx(1.0 / 3));
  CHECK(r.curves[0].precision[600] == 0.5);
  CHECK(r.curves[0].precision[999] == Approx(2.0 / 3));
  CHECK(r.curves[0].recall[999] == Approx(2.0 / 3));

  // Ignored (non-kept) gt in easy: the prediction on gt1 is dropped (proposal -1), a second
  // prediction on gt0 counts as a false positive (its best gt is already recalled).
  auto gt2 = tiny_gt({{0, 0, 10, 10}, {100, 100, 20, 20}}, {{{0}, {0, 1}, {0, 1}}});
  WiderPredictions p2;
  p2["0--Parade"]["0_Parade_0"] = {{0, 0, 10, 10, 0.9}, {100, 100, 20, 20, 0.6}, {1, 0, 10, 10, 0.2}};
  // Normalised: 1, 4/7, 0.  easy: flags h0 TP, h1 ignored, h2 FP (gt0 already recalled).
  //   thresh > 4/7: props 1, tp 1; 0 < thresh <= 4/7: props 1 (h1 ignored), tp 1; thresh 0: props 2, tp 1.
  //   count_face 1 -> recall 1 everywhere; precision 1, 1, 0.5 -> AP = 1.
  // medium/hard: h1 is a TP: recall 0.5 then 1 (props 2), then props 3 tp 2 at thresh 0:
  //   AP = 0.5 * 1 + 0.5 * 1 = 1.
  auto r2 = evaluate_widerface(gt2, p2);
  CHECK(r2.ap[0] == Approx(1.0).epsilon(1e-14));
  CHECK(r2.curves[0].precision[999] == 0.5);
  CHECK(r2.ap[1] == Approx(1.0).epsilon(1e-14));
  CHECK(r2.curves[1].precision[999] == Approx(2.0 / 3));
  CHECK(r2.face_count == std::array<int64_t, 3>{1, 2, 2});

  // IoU with the +1 convention: pred [0,0,9,10] vs gt [0,0,10,10]: (10*11)/(121) = 0.909 >= 0.5;
  // pred shifted by 6 px: iw = 5, IoU = 55 / (121 + 121 - 55) = 0.294 < 0.5 -> no recall.
  auto gt3 = tiny_gt({{0, 0, 10, 10}}, {{{0}, {0}, {0}}});
  WiderPredictions p3;
  p3["0--Parade"]["0_Parade_0"] = {{6, 0, 10, 10, 0.9}, {0, 0, 9, 10, 0.3}};
  auto r3 = evaluate_widerface(gt3, p3);
  // thresh > 0: props 1 tp 0 (P 0, R 0); thresh 0: props 2 tp 1 (P 0.5, R 1) -> AP = 0.5.
  CHECK(r3.ap[0] == Approx(0.5).epsilon(1e-14));
}

TEST_CASE("widerface eval: voc_ap propagates NaN like numpy") {
  CHECK(voc_ap({0.5, 1.0}, {1.0, 0.5}) == Approx(0.75));
  CHECK(std::isnan(voc_ap({0.0, 0.5}, {std::nan(""), 1.0})) == false);  // NaN only at mrec step 0 -> 0 width
  CHECK(std::isnan(voc_ap({0.5, 0.5}, {std::nan(""), 1.0})));
}

TEST_CASE("widerface eval: missing images, subsets and equal scores") {
  auto gt = tiny_gt({{0, 0, 10, 10}}, {{{0}, {0}, {0}}});
  WiderPredictions none;
  CHECK_THROWS_AS(evaluate_widerface(gt, none), Error);
  WiderEvalOptions o;
  o.missing_is_empty = true;
  auto r = evaluate_widerface(gt, none, o);
  CHECK(r.ap[0] == 0.0);
  WiderPredictions flat;
  flat["0--Parade"]["0_Parade_0"] = {{0, 0, 10, 10, 0.5}};
  CHECK_THROWS_AS(evaluate_widerface(gt, flat), Error);  // min == max: division by zero in the reference

  // Subset of the real ground truth: every 10th image of the sorted relative paths (11.6).
  std::vector<std::string> all;
  for (const auto& ev : ground_truth().events)
    for (const auto& im : ev.images) all.push_back(ev.name + "/" + im.stem + ".jpg");
  std::sort(all.begin(), all.end());
  std::vector<std::string> subset;
  for (size_t i = 0; i < all.size(); i += 10) subset.push_back(all[i]);
  REQUIRE(subset.size() == 323);
  WiderEvalOptions so;
  so.subset = subset;
  auto rs = evaluate_widerface(ground_truth(), golden_predictions(false), so);
  CHECK(rs.images == 323);
  CHECK(rs.face_count == std::array<int64_t, 3>{797, 1358, 2579});
  // Exact-gt predictions: AP close to 1, as for the full set.
  for (int s = 0; s < 3; ++s) CHECK(rs.ap[s] > 0.999);
  so.subset = {"0--Parade/not_an_image"};
  CHECK_THROWS_AS(evaluate_widerface(ground_truth(), golden_predictions(false), so), ConfigError);
}

TEST_CASE("widerface eval: result files and in-memory detections agree; CSV") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("rfcf_wider_eval_" + std::to_string(::getpid()));
  auto gt = tiny_gt({{10, 10, 40, 40}, {100, 100, 50, 60}}, {{{0, 1}, {0, 1}, {0, 1}}});
  std::vector<Detection> dets(3);
  const float boxes[3][4] = {{10.7f, 10.2f, 50.9f, 50.1f}, {99.5f, 101.f, 150.3f, 160.8f}, {300, 300, 320, 330}};
  const float scores[3] = {0.99979955f, 0.7312f, 0.03f};
  for (int i = 0; i < 3; ++i) {
    std::copy_n(boxes[i], 4, dets[i].box);
    dets[i].score = scores[i];
  }
  write_wider_result(dir.string(), "0--Parade", "0_Parade_0", dets);
  WiderPredictions from_files = read_wider_predictions(dir.string());
  REQUIRE(from_files.count("0--Parade"));
  const auto& boxes_read = from_files["0--Parade"]["0_Parade_0"];
  REQUIRE(boxes_read.size() == 3);
  CHECK(boxes_read[0] == WiderBox{10, 10, 40, 40, 0.99979955});
  CHECK(boxes_read[1] == WiderBox{99, 101, 51, 59, 0.7312});
  WiderPredictions mem;
  mem["0--Parade"]["0_Parade_0"] = wider_boxes_from_detections(dets);
  CHECK(mem == from_files);
  auto a = evaluate_widerface(gt, from_files), b = evaluate_widerface(gt, mem);
  CHECK(a.ap == b.ap);

  const std::string csv = (dir / "pr.csv").string();
  write_pr_curves_csv(csv, a);
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  CHECK(line == "threshold,easy_precision,easy_recall,medium_precision,medium_recall,hard_precision,hard_recall");
  std::getline(in, line);
  CHECK(line.rfind("0.999,", 0) == 0);
  int rows = 1;
  while (std::getline(in, line)) ++rows;
  CHECK(rows == 1000);

  // PR curves as a PNG: decodes back to the requested size, and the plot is not blank.
  const std::string png = (dir / "pr.png").string();
  write_pr_curves_png(png, a, "tiny");
  io::Image img = io::read_image(png);
  CHECK(img.width == 640);
  CHECK(img.height == 480);
  std::set<uint8_t> levels(img.pixels.begin(), img.pixels.end());
  CHECK(levels.size() > 3);

  // Malformed result file.
  std::ofstream(dir / "0--Parade" / "bad.txt") << "bad\n1\n1 2 three 4 0.5 \n";
  CHECK_THROWS_AS(read_wider_predictions(dir.string()), FormatError);
  fs::remove_all(dir);
}
