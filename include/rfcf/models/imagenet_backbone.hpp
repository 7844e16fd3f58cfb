#pragma once
// Initialises a detector body from an ImageNet classification checkpoint (retinaface.md 2.9):
// shared/models/mobilenetv1_025_imagenet.tar holds {'state_dict': {'module.stage1.0.0.weight', ...,
// 'module.fc.weight', 'module.fc.bias'}, ...}. The `module.` prefix is stripped, the classifier
// (`fc.*`) is dropped, and the rest must match the body exactly (strict: every parameter,
// running statistic and counter, same shapes), so a wrong architecture fails loudly.
//   auto r = models::load_imagenet_backbone(net.body(), "mobilenetv1_025_imagenet.tar");
//   std::printf("%s\n", r.str().c_str());
#include <string>
#include <vector>

#include "rfcf/io/torch_file.hpp"
#include "rfcf/nn/state_dict.hpp"

namespace rfcf::models {

struct BackboneLoadReport {
  std::string source;
  size_t loaded = 0;                  // tensors and counters copied into the body
  std::vector<std::string> dropped;   // classifier keys left out
  std::string str() const {
    std::string s = "backbone: " + std::to_string(loaded) + " tensors loaded from " + source;
    if (!dropped.empty()) {
      s += "; dropped " + std::to_string(dropped.size()) + " classifier keys (";
      for (size_t i = 0; i < dropped.size(); ++i) s += (i ? ", " : "") + dropped[i];
      s += ")";
    }
    return s;
  }
};

// The body's keys from a classification state dict: `prefix` stripped, keys starting with any of
// `drop` removed (reported).
inline io::TensorMap backbone_state_dict(const io::TensorMap& sd, std::vector<std::string>* dropped,
                                         const std::vector<std::string>& drop = {"fc.", "avg."},
                                         const std::string& prefix = "module.") {
  io::TensorMap out;
  for (const auto& [name, t] : io::strip_prefix(sd, prefix)) {
    bool skip = false;
    for (const auto& d : drop) skip |= name.compare(0, d.size(), d) == 0;
    if (skip) {
      if (dropped) dropped->push_back(name);
      continue;
    }
    out.insert_new(name, t);
  }
  return out;
}

// Loads an ImageNet checkpoint (.tar/.pth, legacy or zip, nested or plain) into `body` (strict).
// Throws nn::StateDictError listing every missing, unexpected or mis-shaped key.
template <class Backbone>
BackboneLoadReport load_imagenet_backbone(Backbone& body, const std::string& path,
                                          const std::vector<std::string>& drop = {"fc.", "avg."}) {
  const io::PyPtr root = io::load_torch(path);
  BackboneLoadReport r;
  r.source = path;
  const io::TensorMap sd = backbone_state_dict(io::find_state_dict(*root), &r.dropped, drop);
  r.loaded = nn::load_state_dict(body, sd, nn::LoadOptions{.strict = true, .ignore_counters = false},
                                 path + " (as the detector body)")
                 .loaded;
  return r;
}

}  // namespace rfcf::models
