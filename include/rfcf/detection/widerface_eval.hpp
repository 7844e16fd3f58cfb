#pragma once
// WIDER FACE evaluation, the protocol of the reference Python evaluator (retinaface.md 11):
// ground truth from the four .mat files, predictions from result-file folders or from memory,
// global min-max score normalisation, per-image matching at IoU 0.5 with the +1 convention,
// 1000 score thresholds, VOC all-point AP per setting (easy, medium, hard), optional subsets.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/detection/python_format.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/mat.hpp"

namespace rfcf::detection {

inline constexpr std::array<const char*, 3> kWiderSettings = {"easy", "medium", "hard"};

struct WiderImageGt {
  std::string stem;                          // file name without .jpg
  std::vector<std::array<double, 4>> boxes;  // [x, y, w, h] pixels, face_bbx_list order
  std::array<std::vector<int64_t>, 3> keep;  // 0-based indices of the faces that count (easy/medium/hard)
};

struct WiderEventGt {
  std::string name;  // e.g. "0--Parade"
  std::vector<WiderImageGt> images;
};

struct WiderGroundTruth {
  std::vector<WiderEventGt> events;  // .mat order
  int64_t image_count() const {
    int64_t n = 0;
    for (const auto& e : events) n += static_cast<int64_t>(e.images.size());
    return n;
  }
};

// Loads wider_face_val.mat and wider_{easy,medium,hard}_val.mat from gt_dir.
inline WiderGroundTruth load_wider_ground_truth(const std::string& gt_dir, const io::MatLimits& limits = {}) {
  namespace fs = std::filesystem;
  const io::MatFile face = io::read_mat((fs::path(gt_dir) / "wider_face_val.mat").string(), limits);
  const io::MatArray& events = face["event_list"];
  const io::MatArray& files = face["file_list"];
  const io::MatArray& boxes = face["face_bbx_list"];
  const int64_t n_events = events.numel();
  check<FormatError>(events.cls == io::MatClass::cell && files.numel() == n_events && boxes.numel() == n_events,
                     "wider_face_val.mat: event_list/file_list/face_bbx_list sizes differ (", n_events, ", ",
                     files.numel(), ", ", boxes.numel(), ")");
  WiderGroundTruth gt;
  gt.events.resize(static_cast<size_t>(n_events));
  for (int64_t i = 0; i < n_events; ++i) {
    WiderEventGt& ev = gt.events[static_cast<size_t>(i)];
    ev.name = events.cell(i).str();
    const io::MatArray& fl = files.cell(i);
    const io::MatArray& bl = boxes.cell(i);
    check<FormatError>(fl.numel() == bl.numel(), "wider_face_val.mat: event ", ev.name, " has ", fl.numel(),
                       " files but ", bl.numel(), " box lists");
    ev.images.resize(static_cast<size_t>(fl.numel()));
    for (int64_t j = 0; j < fl.numel(); ++j) {
      WiderImageGt& im = ev.images[static_cast<size_t>(j)];
      im.stem = fl.cell(j).str();
      const io::MatArray& b = bl.cell(j);
      if (b.is_empty()) continue;
      check<FormatError>(b.is_numeric() && b.cols() == 4, "wider_face_val.mat: boxes of ", ev.name, "/", im.stem,
                         " are not n x 4");
      for (int64_t k = 0; k < b.rows(); ++k) im.boxes.push_back({b.at(k, 0), b.at(k, 1), b.at(k, 2), b.at(k, 3)});
    }
  }
  for (size_t s = 0; s < 3; ++s) {
    const std::string name = std::string("wider_") + kWiderSettings[s] + "_val.mat";
    const io::MatFile f = io::read_mat((fs::path(gt_dir) / name).string(), limits);
    const io::MatArray& gl = f["gt_list"];
    check<FormatError>(gl.numel() == n_events, name, ": gt_list has ", gl.numel(), " events, expected ", n_events);
    for (int64_t i = 0; i < n_events; ++i) {
      WiderEventGt& ev = gt.events[static_cast<size_t>(i)];
      check<FormatError>(f["event_list"].cell(i).str() == ev.name, name, ": event ", i, " is '",
                         f["event_list"].cell(i).str(), "', expected '", ev.name, "'");
      const io::MatArray& ge = gl.cell(i);
      check<FormatError>(ge.numel() == static_cast<int64_t>(ev.images.size()), name, ": event ", ev.name, " has ",
                         ge.numel(), " keep lists for ", ev.images.size(), " images");
      for (size_t j = 0; j < ev.images.size(); ++j) {
        WiderImageGt& im = ev.images[j];
        const io::MatArray& k = ge.cell(static_cast<int64_t>(j));
        for (double v : k.numeric) {
          check<FormatError>(v >= 1 && v <= static_cast<double>(im.boxes.size()) && v == std::floor(v), name,
                             ": keep index ", v, " of ", ev.name, "/", im.stem, " outside 1..", im.boxes.size());
          im.keep[s].push_back(static_cast<int64_t>(v) - 1);
        }
      }
    }
  }
  return gt;
}

// One prediction: [x, y, w, h, score] as float64 (the evaluator's view of a result-file line).
using WiderBox = std::array<double, 5>;
// event name -> image stem -> boxes in file order (expected in descending score order).
using WiderPredictions = std::map<std::string, std::map<std::string, std::vector<WiderBox>>>;

namespace detail {

inline double parse_python_float(const std::string& tok, const std::string& where) {
  double v = 0;
  const char* b = tok.data();
  const char* e = b + tok.size();
  if (b != e && *b == '+') ++b;
  auto res = std::from_chars(b, e, v);
  check<FormatError>(res.ec == std::errc() && res.ptr == e && !tok.empty(), where, ": '", tok, "' is not a number");
  return v;
}

// The reference's key: last '/' component, trailing characters in {'.','j','p','g'} stripped.
inline std::string wider_key(std::string s) {
  const size_t slash = s.rfind('/');
  if (slash != std::string::npos) s = s.substr(slash + 1);
  while (!s.empty() && (s.back() == '.' || s.back() == 'j' || s.back() == 'p' || s.back() == 'g')) s.pop_back();
  return s;
}

}  // namespace detail

// Reads one result file (format 9.3); returns the image key and its boxes.
inline std::pair<std::string, std::vector<WiderBox>> read_wider_result(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check<IoError>(static_cast<bool>(in), "cannot open WIDER result file '", path, "'");
  std::string line;
  check<FormatError>(static_cast<bool>(std::getline(in, line)), "WIDER result file '", path, "' is empty");
  auto strip_eol = [](std::string& s) {
    while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.pop_back();
  };
  strip_eol(line);
  std::pair<std::string, std::vector<WiderBox>> out{detail::wider_key(line), {}};
  std::getline(in, line);  // the box count (not used by the evaluator)
  int64_t lineno = 2;
  while (std::getline(in, line)) {
    ++lineno;
    strip_eol(line);
    std::vector<std::string> tok;
    size_t p = 0;
    for (;;) {  // split on single spaces, like str.split(' ')
      size_t q = line.find(' ', p);
      tok.push_back(line.substr(p, q == std::string::npos ? std::string::npos : q - p));
      if (q == std::string::npos) break;
      p = q + 1;
    }
    if (tok[0].empty()) continue;
    const std::string where = "WIDER result file '" + path + "' line " + std::to_string(lineno);
    check<FormatError>(tok.size() >= 5, where, ": expected 'x y w h score'");
    WiderBox b;
    for (int k = 0; k < 5; ++k) b[k] = detail::parse_python_float(tok[k], where);
    out.second.push_back(b);
  }
  return out;
}

// Reads <pred_dir>/<event>/*.txt for every event folder.
inline WiderPredictions read_wider_predictions(const std::string& pred_dir) {
  namespace fs = std::filesystem;
  check<IoError>(fs::is_directory(pred_dir), "WIDER prediction folder '", pred_dir, "' does not exist");
  WiderPredictions preds;
  for (const auto& ev : fs::directory_iterator(pred_dir)) {
    if (!ev.is_directory()) continue;
    auto& event = preds[ev.path().filename().string()];
    for (const auto& f : fs::directory_iterator(ev.path())) {
      if (!f.is_regular_file() || f.path().extension() != ".txt") continue;
      auto [key, boxes] = read_wider_result(f.path().string());
      event[key] = std::move(boxes);
    }
  }
  return preds;
}

// The boxes the evaluator would read from the result file written for `dets`
// (integer truncation of the box, score through numpy's float32 str()).
inline std::vector<WiderBox> wider_boxes_from_detections(const std::vector<Detection>& dets) {
  std::vector<WiderBox> out;
  for (const Detection& d : dets) {
    const double x = std::trunc(d.box[0]), y = std::trunc(d.box[1]);
    out.push_back({x, y, std::trunc(d.box[2]) - x, std::trunc(d.box[3]) - y,
                   detail::parse_python_float(numpy_float32_str(d.score), "score")});
  }
  return out;
}

struct WiderEvalOptions {
  double iou_threshold = 0.5;
  int thresholds = 1000;
  // Images of the ground truth without predictions: error (reference behaviour) or no predictions.
  bool missing_is_empty = false;
  // Evaluate only these images ("<event>/<stem>", ".jpg" optional); empty = all (retinaface.md 11.6).
  std::vector<std::string> subset;
};

struct WiderPRCurve {
  std::vector<double> thresholds;  // 0.999, 0.998, ..., 0.0
  std::vector<double> precision;   // NaN where nothing is proposed
  std::vector<double> recall;
};

struct WiderEvalResult {
  std::array<double, 3> ap{};  // easy, medium, hard
  std::array<WiderPRCurve, 3> curves;
  std::array<int64_t, 3> face_count{};
  double score_min = 0, score_max = 0;  // normalisation range
  int64_t images = 0;
};

// VOC all-point AP (11.5 step 2), NaN propagating like numpy.maximum.
inline double voc_ap(const std::vector<double>& recall, const std::vector<double>& precision) {
  std::vector<double> mrec{0.0}, mpre{0.0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mrec.push_back(1.0);
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mpre.push_back(0.0);
  for (size_t i = mpre.size() - 1; i > 0; --i) {
    const double a = mpre[i - 1], b = mpre[i];
    mpre[i - 1] = (std::isnan(a) || std::isnan(b)) ? std::nan("") : std::max(a, b);
  }
  double ap = 0;
  for (size_t i = 0; i + 1 < mrec.size(); ++i)
    if (mrec[i + 1] != mrec[i]) ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1];
  return ap;
}

namespace detail {

// Per-image evaluation (11.4 steps 4-7): proposal flags and true positives so far, per prediction.
inline void wider_image_eval(const std::vector<WiderBox>& pred, const std::vector<std::array<double, 4>>& gt,
                             const std::vector<char>& keep, double iou_threshold, std::vector<int>& proposal,
                             std::vector<int64_t>& tp_so_far) {
  const size_t P = pred.size(), G = gt.size();
  proposal.assign(P, 1);
  tp_so_far.assign(P, 0);
  std::vector<int> recall(G, 0);
  int64_t recalled = 0;
  for (size_t h = 0; h < P; ++h) {
    const double px1 = pred[h][0], py1 = pred[h][1], px2 = pred[h][2] + pred[h][0], py2 = pred[h][3] + pred[h][1];
    double best = 0;
    size_t best_g = 0;
    for (size_t g = 0; g < G; ++g) {
      const double gx1 = gt[g][0], gy1 = gt[g][1], gx2 = gt[g][2] + gt[g][0], gy2 = gt[g][3] + gt[g][1];
      double iou = 0;
      const double iw = std::min(px2, gx2) - std::max(px1, gx1) + 1;
      if (iw > 0) {
        const double ih = std::min(py2, gy2) - std::max(py1, gy1) + 1;
        if (ih > 0) {
          const double gt_area = (gx2 - gx1 + 1) * (gy2 - gy1 + 1);
          const double ua = (px2 - px1 + 1) * (py2 - py1 + 1) + gt_area - iw * ih;
          iou = iw * ih / ua;
        }
      }
      if (g == 0 || iou > best) {  // argmax: first index on ties
        best = iou;
        best_g = g;
      }
    }
    if (best >= iou_threshold) {
      if (!keep[best_g]) {
        if (recall[best_g] == 1) --recalled;
        recall[best_g] = -1;
        proposal[h] = -1;
      } else if (recall[best_g] == 0) {
        recall[best_g] = 1;
        ++recalled;
      }
    }
    tp_so_far[h] = recalled;
  }
}

}  // namespace detail

inline WiderEvalResult evaluate_widerface(const WiderGroundTruth& gt, const WiderPredictions& preds,
                                          const WiderEvalOptions& o = {}) {
  check<ConfigError>(o.thresholds > 0, "evaluate_widerface: thresholds must be positive");
  // Images taking part, in ground-truth order.
  std::set<std::string> subset;
  for (std::string s : o.subset) {
    if (!s.empty() && s.front() == '/') s.erase(0, 1);
    if (s.size() > 4 && s.compare(s.size() - 4, 4, ".jpg") == 0) s.resize(s.size() - 4);
    subset.insert(s);
  }
  struct Item {
    const WiderImageGt* gt;
    const std::vector<WiderBox>* pred;
  };
  static const std::vector<WiderBox> kNone;
  std::vector<Item> items;
  size_t matched_subset = 0;
  for (const auto& ev : gt.events) {
    auto pe = preds.find(ev.name);
    for (const auto& im : ev.images) {
      if (!subset.empty()) {
        if (!subset.count(ev.name + "/" + im.stem)) continue;
        ++matched_subset;
      }
      const std::vector<WiderBox>* p = nullptr;
      if (pe != preds.end()) {
        auto pi = pe->second.find(im.stem);
        if (pi != pe->second.end()) p = &pi->second;
      }
      check<Error>(p != nullptr || o.missing_is_empty, "evaluate_widerface: no predictions for image ", ev.name,
                   "/", im.stem);
      items.push_back({&im, p ? p : &kNone});
    }
  }
  check<ConfigError>(matched_subset == subset.size(), "evaluate_widerface: ", subset.size() - matched_subset,
                     " subset images are not in the ground truth");

  // Global min-max normalisation over the predictions taking part (all of them without a subset).
  double mx = 0, mn = 1;
  bool any = false;
  auto scan = [&](const std::vector<WiderBox>& v) {
    for (const auto& b : v) {
      any = true;
      mx = std::max(mx, b[4]);
      mn = std::min(mn, b[4]);
    }
  };
  if (subset.empty()) {
    for (const auto& [e, ims] : preds)
      for (const auto& [s, v] : ims) scan(v);
  } else {
    for (const auto& it : items) scan(*it.pred);
  }
  const double diff = mx - mn;
  check<Error>(!any || diff > 0, "evaluate_widerface: all prediction scores are equal (", mn,
               "): the reference min-max normalisation would divide by zero");

  const int T = o.thresholds;
  std::vector<double> thresh(static_cast<size_t>(T));
  for (int t = 0; t < T; ++t) thresh[t] = 1.0 - static_cast<double>(t + 1) / static_cast<double>(T);

  WiderEvalResult res;
  res.score_min = mn;
  res.score_max = mx;
  res.images = static_cast<int64_t>(items.size());
  std::vector<double> score;
  std::vector<int> proposal;
  std::vector<int64_t> tp_so_far, last_index, proposals_prefix;
  std::vector<char> keep;
  for (size_t s = 0; s < 3; ++s) {
    std::vector<double> acc_prop(static_cast<size_t>(T), 0.0), acc_tp(static_cast<size_t>(T), 0.0);
    int64_t count_face = 0;
    for (const auto& it : items) {
      const WiderImageGt& im = *it.gt;
      const std::vector<WiderBox>& pred = *it.pred;
      count_face += static_cast<int64_t>(im.keep[s].size());
      if (im.boxes.empty() || pred.empty()) continue;
      keep.assign(im.boxes.size(), 0);
      for (int64_t k : im.keep[s]) keep[static_cast<size_t>(k)] = 1;
      detail::wider_image_eval(pred, im.boxes, keep, o.iou_threshold, proposal, tp_so_far);
      score.resize(pred.size());
      for (size_t h = 0; h < pred.size(); ++h) score[h] = (pred[h][4] - mn) / diff;
      // r(t) = largest h with score[h] >= thresh[t]; thresholds decrease, so prediction h
      // qualifies from the first t with thresh[t] <= score[h] on.
      last_index.assign(static_cast<size_t>(T), -1);
      for (size_t h = 0; h < pred.size(); ++h) {
        auto first = std::lower_bound(thresh.begin(), thresh.end(), score[h],
                                      [](double th, double sc) { return !(sc >= th); });
        if (first == thresh.end()) continue;
        int64_t& slot = last_index[static_cast<size_t>(first - thresh.begin())];
        slot = std::max<int64_t>(slot, static_cast<int64_t>(h));
      }
      proposals_prefix.assign(pred.size(), 0);
      for (size_t h = 0; h < pred.size(); ++h)
        proposals_prefix[h] = (h ? proposals_prefix[h - 1] : 0) + (proposal[h] == 1 ? 1 : 0);
      int64_t r = -1;
      for (int t = 0; t < T; ++t) {
        r = std::max(r, last_index[static_cast<size_t>(t)]);
        if (r < 0) continue;
        acc_prop[static_cast<size_t>(t)] += static_cast<double>(proposals_prefix[static_cast<size_t>(r)]);
        acc_tp[static_cast<size_t>(t)] += static_cast<double>(tp_so_far[static_cast<size_t>(r)]);
      }
    }
    WiderPRCurve& c = res.curves[s];
    c.thresholds = thresh;
    c.precision.resize(static_cast<size_t>(T));
    c.recall.resize(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) {
      c.precision[t] = acc_tp[t] / acc_prop[t];  // 0/0 = NaN like numpy
      c.recall[t] = acc_tp[t] / static_cast<double>(count_face);
    }
    res.face_count[s] = count_face;
    res.ap[s] = voc_ap(c.recall, c.precision);
  }
  return res;
}

// PR curves as CSV: threshold, then precision and recall per setting.
inline void write_pr_curves_csv(const std::string& path, const WiderEvalResult& r) {
  std::string out = "threshold";
  for (const char* s : kWiderSettings) out += std::string(",") + s + "_precision," + s + "_recall";
  out += "\n";
  for (size_t t = 0; t < r.curves[0].thresholds.size(); ++t) {
    out += python_float_repr(r.curves[0].thresholds[t]);
    for (size_t s = 0; s < 3; ++s)
      out += "," + python_float_repr(r.curves[s].precision[t]) + "," + python_float_repr(r.curves[s].recall[t]);
    out += "\n";
  }
  io::atomic_write(path, [&](io::FileWriter& w) { w.write(out); });
}

}  // namespace rfcf::detection
