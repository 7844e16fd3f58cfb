#pragma once
// RetinaFace<Backbone, Device>: backbone -> FPN -> SSH per level -> class/box/landmark
// heads, with parameter names exactly as the PyTorch checkpoints (retinaface.md 2).
// Structure is in the type; channel counts, slopes and anchors are runtime options.
#include <array>
#include <string>
#include <vector>

#include "rfcf/models/detection_head.hpp"
#include "rfcf/models/fpn.hpp"
#include "rfcf/models/ssh.hpp"
#include "rfcf/nn/composite.hpp"
#include "rfcf/ops/concat.hpp"

namespace rfcf::models {

struct RetinaFaceOptions {
  double backbone_slope = 0.1;  // LeakyReLU slope of the body (0 = ReLU)
  double neck_slope = 0.1;      // slope in FPN and SSH
  int64_t out_channels = 64;    // FPN/SSH width (64 mobilenet, 256 resnet50)
  int64_t anchors_per_cell = 2;
  std::array<std::array<double, 2>, 3> min_sizes{{{16, 32}, {64, 128}, {256, 512}}};
  std::array<int64_t, 3> steps{8, 16, 32};
  std::array<double, 2> variances{0.1, 0.2};

  // biubug6/Pytorch_Retinaface mobilenet0.25 (shared/models/retinaface_mnet025.pth).
  static RetinaFaceOptions mobilenet025() { return {}; }
  // Face-Detector-1MB mobilenet0.25 checkpoints: ReLU everywhere, smaller anchors.
  static RetinaFaceOptions mobilenet025_1mb() {
    RetinaFaceOptions o;
    o.backbone_slope = o.neck_slope = 0.0;
    o.min_sizes = {{{10, 20}, {32, 64}, {128, 256}}};
    return o;
  }
  // Pytorch_Retinaface ResNet-50.
  static RetinaFaceOptions resnet50() {
    RetinaFaceOptions o;
    o.backbone_slope = o.neck_slope = 0.0;
    o.out_channels = 256;
    return o;
  }
};

// Raw head outputs: loc [N,A,4], conf [N,A,2] logits, landms [N,A,10].
template <class T, class D>
struct RetinaFaceOutput {
  Tensor<T, D> loc, conf, landms;
};

// Intermediate activations for layer-by-layer checks (NCHW).
template <class T, class D>
struct RetinaFaceTrace {
  FeatureMaps<T, D> body, fpn, ssh;
};

template <template <class, class> class Backbone, class D, class T = float>
class RetinaFace {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = Tensor<T, D>;

  explicit RetinaFace(const RetinaFaceOptions& o = RetinaFaceOptions::mobilenet025())
      : options_(o),
        body_(o.backbone_slope),
        fpn_(Backbone<T, D>::out_channels, o.out_channels, o.neck_slope),
        ssh_{SSH<T, D>(o.out_channels, o.out_channels, o.neck_slope),
             SSH<T, D>(o.out_channels, o.out_channels, o.neck_slope),
             SSH<T, D>(o.out_channels, o.out_channels, o.neck_slope)} {
    for (int i = 0; i < 3; ++i) {
      class_head_.push_back(HeadConv<T, D>(o.out_channels, o.anchors_per_cell, 2));
      bbox_head_.push_back(HeadConv<T, D>(o.out_channels, o.anchors_per_cell, 4));
      landmark_head_.push_back(HeadConv<T, D>(o.out_channels, o.anchors_per_cell, 10));
    }
  }

  const RetinaFaceOptions& options() const { return options_; }

  // x: [N, 3, H, W] BGR minus (104, 117, 123). conf holds logits (apply softmax for scores).
  RetinaFaceOutput<T, D> forward(const tensor_type& x, RetinaFaceTrace<T, D>* trace = nullptr) {
    FeatureMaps<T, D> f = body_.forward(x);
    FeatureMaps<T, D> p = fpn_.forward(f);
    FeatureMaps<T, D> s;
    for (int i = 0; i < 3; ++i) s[i] = ssh_[i].forward(p[i]);
    if (trace) *trace = {f, p, s};
    std::vector<tensor_type> loc(3), conf(3), landms(3);
    for (int i = 0; i < 3; ++i) {
      loc[i] = bbox_head_[i].forward(s[i]);
      conf[i] = class_head_[i].forward(s[i]);
      landms[i] = landmark_head_[i].forward(s[i]);
      anchors_[i] = loc[i].dim(1);
    }
    return {ops::concat_channels(loc), ops::concat_channels(conf), ops::concat_channels(landms)};
  }

  // Gradients w.r.t. loc, conf (logits) and landms; accumulates parameter gradients.
  void backward(const RetinaFaceOutput<T, D>& d) {
    FeatureMaps<T, D> ds;
    int64_t offset = 0;
    for (int i = 0; i < 3; ++i) {
      ds[i] = bbox_head_[i].backward(ops::slice_channels(d.loc, offset, anchors_[i]));
      ops::accumulate(ds[i], class_head_[i].backward(ops::slice_channels(d.conf, offset, anchors_[i])));
      ops::accumulate(ds[i], landmark_head_[i].backward(ops::slice_channels(d.landms, offset, anchors_[i])));
      offset += anchors_[i];
    }
    FeatureMaps<T, D> dp;
    for (int i = 0; i < 3; ++i) dp[i] = ssh_[i].backward(ds[i]);
    body_.backward(fpn_.backward(dp));
  }

  void train(bool on = true) {
    body_.train(on);
    fpn_.train(on);
    for (auto& s : ssh_) s.train(on);
    class_head_.train(on), bbox_head_.train(on), landmark_head_.train(on);
  }
  void eval() { train(false); }
  bool is_training() const { return body_.is_training(); }
  // Folds batch norms and activations into the convolutions for eval-mode inference (one pass
  // per conv instead of three); irreversible: reload the weights to train.
  void fuse_for_inference() {
    eval();
    body_.fuse_for_inference();
    fpn_.fuse_for_inference();
    for (auto& s : ssh_) s.fuse_for_inference();
  }

  template <class V>
  void visit(V& v, const std::string& p) {
    body_.visit(v, nn::join_name(p, "body"));
    fpn_.visit(v, nn::join_name(p, "fpn"));
    for (int i = 0; i < 3; ++i) ssh_[i].visit(v, nn::join_name(p, "ssh" + std::to_string(i + 1)));
    class_head_.visit(v, nn::join_name(p, "ClassHead"));
    bbox_head_.visit(v, nn::join_name(p, "BboxHead"));
    landmark_head_.visit(v, nn::join_name(p, "LandmarkHead"));
  }

  Backbone<T, D>& body() { return body_; }

 private:
  RetinaFaceOptions options_;
  Backbone<T, D> body_;
  FPN<T, D> fpn_;
  std::array<SSH<T, D>, 3> ssh_;
  nn::Repeat<HeadConv<T, D>> class_head_, bbox_head_, landmark_head_;
  std::array<int64_t, 3> anchors_{};
};

}  // namespace rfcf::models
