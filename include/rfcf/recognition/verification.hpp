#pragma once
// Face verification metrics on pair scores (recognition.md 7.5, 10.2, 10.3), on the host:
// threshold accuracy, k-fold accuracy with the LFW cosine protocols P1/P2 and the insightface
// protocol, best threshold, ROC (TPR/FPR per threshold, CSV), TAR at a target FAR.
// Pairs are given as scores plus "same" flags (1 = same identity).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf::recognition {

// How a score is compared with a threshold.
enum class ScoreRule {
  // Similarity (P1/P2 of recognition.md 7.5): a same pair is correct iff score > thr, a different
  // pair iff score < thr (a score equal to the threshold is wrong for both).
  similarity_strict,
  // Distance (insightface, 10.2): predict "same" iff score < thr; correct iff the prediction matches.
  distance,
};

// Which threshold wins when several maximise the training accuracy.
enum class ThresholdChoice {
  mean_of_maxima,  // mean of all maximising grid values (7.5)
  first_maximum,   // the first (smallest) maximising grid value (10.2)
};

struct VerificationProtocol {
  std::vector<double> thresholds;
  ScoreRule rule = ScoreRule::similarity_strict;
  ThresholdChoice choice = ThresholdChoice::mean_of_maxima;
  int folds = 10;

  // P1/P2: cosine scores, thresholds i/10000 for i = -10000..10000, mean of maximising thresholds.
  static VerificationProtocol lfw_cosine() {
    VerificationProtocol p;
    for (int i = -10000; i <= 10000; ++i) p.thresholds.push_back(i / 10000.0);
    return p;
  }
  // insightface: squared distances, thresholds 0.00..3.99 step 0.01, first maximum.
  static VerificationProtocol insightface() {
    VerificationProtocol p;
    for (int i = 0; i < 400; ++i) p.thresholds.push_back(i * 0.01);
    p.rule = ScoreRule::distance;
    p.choice = ThresholdChoice::first_maximum;
    return p;
  }
};

namespace detail {
inline void check_pairs(size_t scores, size_t same, const char* what) {
  check<ShapeError>(scores == same, what, ": ", scores, " scores but ", same, " same flags");
}
// Correct decisions among pairs idx at thr.
inline int64_t correct_count(const std::vector<double>& s, const std::vector<uint8_t>& same,
                             const std::vector<int64_t>& idx, double thr, ScoreRule rule) {
  int64_t n = 0;
  for (int64_t i : idx) {
    const double v = s[static_cast<size_t>(i)];
    const bool is_same = same[static_cast<size_t>(i)] != 0;
    if (rule == ScoreRule::similarity_strict) n += is_same ? (v > thr) : (v < thr);
    else n += (v < thr) == is_same;
  }
  return n;
}
inline std::vector<int64_t> all_indices(size_t n) {
  std::vector<int64_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = static_cast<int64_t>(i);
  return idx;
}
}  // namespace detail

// Accuracy of the pairs idx (all pairs when empty) at one threshold.
inline double accuracy_at(const std::vector<double>& scores, const std::vector<uint8_t>& same, double threshold,
                          ScoreRule rule, std::vector<int64_t> idx = {}) {
  detail::check_pairs(scores.size(), same.size(), "accuracy_at");
  if (idx.empty()) idx = detail::all_indices(scores.size());
  return static_cast<double>(detail::correct_count(scores, same, idx, threshold, rule)) / static_cast<double>(idx.size());
}

struct ThresholdResult {
  double threshold = 0;
  double accuracy = 0;  // on the pairs the threshold was chosen on
};

// The protocol's threshold over the pairs idx (all pairs when empty).
inline ThresholdResult best_threshold(const std::vector<double>& scores, const std::vector<uint8_t>& same,
                                      const VerificationProtocol& p, std::vector<int64_t> idx = {}) {
  detail::check_pairs(scores.size(), same.size(), "best_threshold");
  check<ConfigError>(!p.thresholds.empty(), "best_threshold: empty threshold grid");
  if (idx.empty()) idx = detail::all_indices(scores.size());
  check<ShapeError>(!idx.empty(), "best_threshold: no pairs");
  int64_t best = -1, count = 0;
  double sum = 0, first = 0;
  for (double thr : p.thresholds) {
    const int64_t c = detail::correct_count(scores, same, idx, thr, p.rule);
    if (c > best) {
      best = c;
      first = thr;
      sum = thr;
      count = 1;
    } else if (c == best) {
      sum += thr;
      ++count;
    }
  }
  const double thr = p.choice == ThresholdChoice::first_maximum ? first : sum / static_cast<double>(count);
  return {thr, static_cast<double>(best) / static_cast<double>(idx.size())};
}

struct KFoldResult {
  std::vector<double> fold_accuracy;
  std::vector<double> fold_threshold;
  double mean_accuracy = 0;
  double std_accuracy = 0;  // population standard deviation over folds
};

// Fold k = the k-th contiguous block of n / folds pairs (n must divide evenly).
inline std::vector<int64_t> fold_indices(size_t n, int folds, int k, bool test) {
  check<ShapeError>(folds > 1 && n % static_cast<size_t>(folds) == 0, "k-fold: ", n,
                    " pairs do not split into ", folds, " equal folds");
  const int64_t per = static_cast<int64_t>(n) / folds;
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i)
    if ((i / per == k) == test) idx.push_back(i);
  return idx;
}

namespace detail {
inline void finish(KFoldResult& r) {
  double s = 0, ss = 0;
  for (double a : r.fold_accuracy) s += a;
  r.mean_accuracy = s / static_cast<double>(r.fold_accuracy.size());
  for (double a : r.fold_accuracy) ss += (a - r.mean_accuracy) * (a - r.mean_accuracy);
  r.std_accuracy = std::sqrt(ss / static_cast<double>(r.fold_accuracy.size()));
}
}  // namespace detail

// k-fold accuracy on fixed scores (P1 with cosine scores; insightface with squared distances).
inline KFoldResult kfold_accuracy(const std::vector<double>& scores, const std::vector<uint8_t>& same,
                                  const VerificationProtocol& p) {
  detail::check_pairs(scores.size(), same.size(), "kfold_accuracy");
  KFoldResult r;
  for (int k = 0; k < p.folds; ++k) {
    const auto thr = best_threshold(scores, same, p, fold_indices(scores.size(), p.folds, k, false)).threshold;
    r.fold_threshold.push_back(thr);
    r.fold_accuracy.push_back(accuracy_at(scores, same, thr, p.rule, fold_indices(scores.size(), p.folds, k, true)));
  }
  detail::finish(r);
  return r;
}

// Cosine of two vectors (NaN-free: 0 when a norm is 0).
template <class T>
double cosine_similarity(const T* a, const T* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t k = 0; k < d; ++k) {
    ab += static_cast<double>(a[k]) * b[k];
    aa += static_cast<double>(a[k]) * a[k];
    bb += static_cast<double>(b[k]) * b[k];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}
template <class T>
double squared_distance(const T* a, const T* b, int64_t d) {
  double s = 0;
  for (int64_t k = 0; k < d; ++k) s += (static_cast<double>(a[k]) - b[k]) * (static_cast<double>(a[k]) - b[k]);
  return s;
}

// Cosines of the rows of a and b (host tensors [n, d]): P1 scores.
template <class T>
std::vector<double> pair_cosines(const Tensor<T, cpu>& a, const Tensor<T, cpu>& b) {
  check_same_shape(a, b, "pair_cosines");
  check_rank(a, 2, "pair_cosines");
  std::vector<double> s(static_cast<size_t>(a.dim(0)));
  for (int64_t i = 0; i < a.dim(0); ++i) s[static_cast<size_t>(i)] = cosine_similarity(a.data() + i * a.dim(1), b.data() + i * a.dim(1), a.dim(1));
  return s;
}

// Squared Euclidean distances of the rows of a and b (insightface scores; 2 - 2 cos for unit rows).
template <class T>
std::vector<double> pair_squared_distances(const Tensor<T, cpu>& a, const Tensor<T, cpu>& b) {
  check_same_shape(a, b, "pair_squared_distances");
  check_rank(a, 2, "pair_squared_distances");
  std::vector<double> s(static_cast<size_t>(a.dim(0)));
  for (int64_t i = 0; i < a.dim(0); ++i)
    s[static_cast<size_t>(i)] = squared_distance(a.data() + i * a.dim(1), b.data() + i * a.dim(1), a.dim(1));
  return s;
}

// P2 (recognition.md 7.5): per fold, subtract the mean feature of both images of all training-fold
// pairs, L2-normalise, score = dot product; threshold as the protocol says (lfw_cosine()).
template <class T>
KFoldResult kfold_accuracy_mean_subtracted(const Tensor<T, cpu>& a, const Tensor<T, cpu>& b,
                                           const std::vector<uint8_t>& same, const VerificationProtocol& p) {
  check_same_shape(a, b, "kfold_accuracy_mean_subtracted");
  check_rank(a, 2, "kfold_accuracy_mean_subtracted");
  const int64_t n = a.dim(0), d = a.dim(1);
  detail::check_pairs(static_cast<size_t>(n), same.size(), "kfold_accuracy_mean_subtracted");
  KFoldResult r;
  std::vector<double> ca(static_cast<size_t>(d)), cb(static_cast<size_t>(d)), mu(static_cast<size_t>(d));
  for (int k = 0; k < p.folds; ++k) {
    const auto train = fold_indices(static_cast<size_t>(n), p.folds, k, false);
    std::fill(mu.begin(), mu.end(), 0.0);
    for (int64_t i : train)
      for (int64_t j = 0; j < d; ++j) mu[j] += static_cast<double>(a.data()[i * d + j]) + b.data()[i * d + j];
    for (auto& v : mu) v /= static_cast<double>(2 * train.size());
    std::vector<double> scores(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        ca[j] = a.data()[i * d + j] - mu[j];
        cb[j] = b.data()[i * d + j] - mu[j];
      }
      scores[static_cast<size_t>(i)] = cosine_similarity(ca.data(), cb.data(), d);
    }
    const double thr = best_threshold(scores, same, p, train).threshold;
    r.fold_threshold.push_back(thr);
    r.fold_accuracy.push_back(accuracy_at(scores, same, thr, p.rule, fold_indices(static_cast<size_t>(n), p.folds, k, true)));
  }
  detail::finish(r);
  return r;
}

struct RocPoint {
  double threshold, tpr, fpr;
};

// TPR = TP / (TP + FN), FPR = FP / (FP + TN) per threshold (0 when a denominator is 0), with
// "accepted as same" = score > thr (similarity) or score < thr (distance).
inline std::vector<RocPoint> roc(const std::vector<double>& scores, const std::vector<uint8_t>& same,
                                 const std::vector<double>& thresholds, ScoreRule rule) {
  detail::check_pairs(scores.size(), same.size(), "roc");
  std::vector<RocPoint> out;
  for (double thr : thresholds) {
    int64_t tp = 0, fn = 0, fp = 0, tn = 0;
    for (size_t i = 0; i < scores.size(); ++i) {
      const bool accept = rule == ScoreRule::distance ? scores[i] < thr : scores[i] > thr;
      if (same[i]) accept ? ++tp : ++fn;
      else accept ? ++fp : ++tn;
    }
    out.push_back({thr, tp + fn ? double(tp) / double(tp + fn) : 0.0, fp + tn ? double(fp) / double(fp + tn) : 0.0});
  }
  return out;
}

// insightface ROC (10.2 step 6): TPR and FPR per threshold on each test fold, averaged over folds.
inline std::vector<RocPoint> kfold_roc(const std::vector<double>& scores, const std::vector<uint8_t>& same,
                                       const VerificationProtocol& p) {
  detail::check_pairs(scores.size(), same.size(), "kfold_roc");
  std::vector<RocPoint> mean;
  for (int k = 0; k < p.folds; ++k) {
    std::vector<double> s;
    std::vector<uint8_t> f;
    for (int64_t i : fold_indices(scores.size(), p.folds, k, true)) {
      s.push_back(scores[static_cast<size_t>(i)]);
      f.push_back(same[static_cast<size_t>(i)]);
    }
    auto r = roc(s, f, p.thresholds, p.rule);
    if (mean.empty()) mean.assign(r.size(), RocPoint{0, 0, 0});
    for (size_t j = 0; j < r.size(); ++j) {
      mean[j].threshold = r[j].threshold;
      mean[j].tpr += r[j].tpr;
      mean[j].fpr += r[j].fpr;
    }
  }
  for (auto& m : mean) {
    m.tpr /= p.folds;
    m.fpr /= p.folds;
  }
  return mean;
}

// Writes "threshold,tpr,fpr" rows; the file appears complete or not at all (tmp + rename).
inline void write_roc_csv(const std::string& path, const std::vector<RocPoint>& points) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    check<IoError>(f.good(), "write_roc_csv: cannot open ", tmp, " for writing");
    f.precision(10);
    f << "threshold,tpr,fpr\n";
    for (const auto& p : points) f << p.threshold << ',' << p.tpr << ',' << p.fpr << '\n';
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      fail<IoError>("write_roc_csv: error while writing ", tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail<IoError>("write_roc_csv: cannot rename ", tmp, " to ", path);
  }
}

struct TarAtFar {
  double tar = 0;        // fraction of genuine pairs accepted
  double far = 0;        // achieved fraction of impostor pairs accepted (<= target)
  double threshold = 0;  // accept iff score > threshold (similarity) or score < threshold (distance)
};

// TAR at the largest achievable FAR not above far_target. Tie rule: pairs with equal scores are
// accepted or rejected together; with k = floor(far_target * impostors), the threshold is the
// (k+1)-th most impostor-like score and only scores strictly beyond it are accepted, so at most
// k impostors pass (FAR may end below the target when impostor scores tie). For similarity scores
// "beyond" means greater, for distances smaller. If k >= impostors everything is accepted.
inline TarAtFar tar_at_far(const std::vector<double>& scores, const std::vector<uint8_t>& same, double far_target,
                           ScoreRule rule = ScoreRule::similarity_strict) {
  detail::check_pairs(scores.size(), same.size(), "tar_at_far");
  check<ConfigError>(far_target >= 0 && far_target <= 1, "tar_at_far: target FAR ", far_target, " not in [0, 1]");
  const double sign = rule == ScoreRule::distance ? -1.0 : 1.0;  // work on "higher = more similar"
  std::vector<double> imp, gen;
  for (size_t i = 0; i < scores.size(); ++i) (same[i] ? gen : imp).push_back(sign * scores[i]);
  check<ShapeError>(!imp.empty() && !gen.empty(), "tar_at_far: needs genuine and impostor pairs, got ", gen.size(),
                    " and ", imp.size());
  std::sort(imp.begin(), imp.end(), std::greater<double>());
  const auto k = static_cast<size_t>(std::floor(far_target * static_cast<double>(imp.size()) + 1e-9));
  TarAtFar r;
  if (k >= imp.size()) {
    r.threshold = -std::numeric_limits<double>::infinity();
    r.tar = r.far = 1.0;
  } else {
    r.threshold = imp[k];
    int64_t fa = 0, ta = 0;
    for (double v : imp) fa += v > r.threshold;
    for (double v : gen) ta += v > r.threshold;
    r.far = double(fa) / double(imp.size());
    r.tar = double(ta) / double(gen.size());
  }
  r.threshold *= sign;
  return r;
}

}  // namespace rfcf::recognition
