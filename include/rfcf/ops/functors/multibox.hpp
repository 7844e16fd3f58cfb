#pragma once
// Per-prior math of the RetinaFace MultiBoxLoss (retinaface.md section 7), shared by host and CUDA
// executors. Every functor handles one prior i; masked-out priors write 0 (selected with a branch,
// never by multiplying, so that NaN/inf targets of unused priors cannot leak into the sums).
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// Masks of prior i from its class target: pos = conf_t != 0 (box loss, ranking), pos1 = conf_t > 0
// (faces with landmarks: landmark loss).
struct PositiveMasks {
  const int64_t* conf_t;
  char* pos;
  char* pos1;
  RFCF_HD void operator()(int64_t i) const {
    pos[i] = conf_t[i] != 0 ? 1 : 0;
    pos1[i] = conf_t[i] > 0 ? 1 : 0;
  }
};

// Per image b (A priors): counts[2b] = positives, counts[2b + 1] = positives with landmarks,
// num_neg[b] = min(negpos_ratio * positives, A - 1) negatives to mine.
struct CountPositives {
  const char* pos;
  const char* pos1;
  int64_t priors;
  int64_t negpos_ratio;
  int64_t* counts;   // [B, 2]
  int64_t* num_neg;  // [B]
  RFCF_HD void operator()(int64_t b) const {
    int64_t n = 0, n1 = 0;
    for (int64_t i = b * priors; i < (b + 1) * priors; ++i) n += pos[i], n1 += pos1[i];
    counts[2 * b] = n;
    counts[2 * b + 1] = n1;
    const int64_t k = negpos_ratio * n;
    num_neg[b] = k < priors - 1 ? k : priors - 1;
  }
};

// Smooth L1 (beta = 1) over `width` components of prior i, only where mask[i] != 0:
// loss[i] = sum_k sl1(pred - target); dpred = scale * sl1'(pred - target).
template <class T>
struct MaskedSmoothL1 {
  const T* pred;
  const T* target;
  const char* mask;
  T* loss;   // [A]
  T* dpred;  // [A, width]
  int64_t width;
  T scale;
  RFCF_HD void operator()(int64_t i) const {
    T s = T(0);
    for (int64_t k = 0; k < width; ++k) {
      const int64_t j = i * width + k;
      if (!mask[i]) {
        dpred[j] = T(0);
        continue;
      }
      const T d = pred[j] - target[j];
      const T a = d < T(0) ? -d : d;
      s += a < T(1) ? T(0.5) * d * d : a - T(0.5);
      dpred[j] = scale * (a < T(1) ? d : (d > T(0) ? T(1) : T(-1)));
    }
    loss[i] = s;
  }
};

// Two-class cross-entropy of prior i: logsumexp(logits) - logits[label], label in {0, 1}.
template <class T>
RFCF_HD inline T two_class_ce(T l0, T l1, int64_t label) {
  using std::exp;
  using std::log;
  const T mx = l0 > l1 ? l0 : l1;
  const T lse = mx + log(exp(l0 - mx) + exp(l1 - mx));
  return lse - (label ? l1 : l0);
}

// Hard-negative mining score: the cross-entropy against label (1 if positive else 0),
// forced to 0 on positives.
template <class T>
struct MiningLoss {
  const T* logits;  // [A, 2]
  const char* pos;
  T* score;
  RFCF_HD void operator()(int64_t i) const {
    score[i] = pos[i] ? T(0) : two_class_ce(logits[2 * i], logits[2 * i + 1], int64_t{0});
  }
};

// Confidence loss and gradient for prior i when selected (positive or mined negative):
// loss[i] = CE(logits, label); dlogits = scale * (softmax - onehot(label)); 0 otherwise.
template <class T>
struct SelectedCrossEntropy {
  const T* logits;
  const char* selected;
  const char* pos;  // label = pos[i] ? 1 : 0
  T* loss;
  T* dlogits;
  T scale;
  RFCF_HD void operator()(int64_t i) const {
    using std::exp;
    if (!selected[i]) {
      loss[i] = T(0);
      dlogits[2 * i] = dlogits[2 * i + 1] = T(0);
      return;
    }
    const T l0 = logits[2 * i], l1 = logits[2 * i + 1];
    const int64_t label = pos[i] ? 1 : 0;
    loss[i] = two_class_ce(l0, l1, label);
    // softmax of two classes: p1 = 1 / (1 + exp(l0 - l1)).
    const T p1 = T(1) / (T(1) + exp(l0 - l1));
    const T p0 = T(1) / (T(1) + exp(l1 - l0));
    dlogits[2 * i] = scale * (p0 - (label == 0 ? T(1) : T(0)));
    dlogits[2 * i + 1] = scale * (p1 - (label == 1 ? T(1) : T(0)));
  }
};

// Priors near ignored faces get mining score -1: below every cross-entropy (which is >= 0), so
// they rank last and are never selected.
template <class T>
struct ExcludeFromMining {
  const char* ignore;
  T* score;
  RFCF_HD void operator()(int64_t i) const {
    if (ignore[i]) score[i] = T(-1);
  }
};

// Hard-negative selection after the per-image ranking: entry i = (image b, rank r) marks the prior
// ranked r in image b when r < num_neg[b], it is not a positive (positives are selected already)
// and not excluded (ranked score < 0). `order` is a permutation per image, so every entry writes
// its own prior.
template <class T>
struct MarkMinedNegatives {
  const int32_t* order;    // [B, A]: prior of each rank
  const T* ranked;         // [B, A]: mining score of each rank
  const int64_t* num_neg;  // [B]
  const char* pos;         // [B, A]
  char* selected;          // [B, A]
  int64_t priors;          // A
  RFCF_HD void operator()(int64_t i) const {
    const int64_t b = i / priors, r = i % priors;
    if (r >= num_neg[b] || ranked[i] < T(0)) return;
    const int64_t p = b * priors + order[i];
    if (!pos[p]) selected[p] = 1;
  }
};

}  // namespace rfcf::functors
