#pragma once
// State dicts: a model's parameters, buffers and counters as named host tensors, in visit
// order with PyTorch names. load_state_dict checks everything first (missing, unexpected
// and mis-shaped keys are reported together) and only then copies, so a failed strict load
// leaves the model untouched. Values are converted to the model's element type.
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/host_tensor.hpp"
#include "rfcf/io/safetensors.hpp"
#include "rfcf/io/torch_file.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::nn {

struct LoadOptions {
  bool strict = true;            // throw StateDictError unless every key matches exactly
  bool ignore_counters = false;  // counters (num_batches_tracked) are neither required nor loaded
};

// What a load did; in strict mode a load with any problem throws instead of returning.
struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
  std::vector<std::string> mismatched;  // "name: model [..], file [..]" (shape or type)
  size_t loaded = 0;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const {
    std::string s;
    auto list = [&](const char* what, const std::vector<std::string>& v) {
      if (v.empty()) return;
      s += std::string(s.empty() ? "" : "; ") + what + " (" + std::to_string(v.size()) + "): ";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("mismatched", mismatched);
    return s.empty() ? "ok" : s;
  }
};

class StateDictError : public Error {
 public:
  explicit StateDictError(LoadReport r, const std::string& where)
      : Error("cannot load state dict" + (where.empty() ? std::string() : " from '" + where + "'") + ": " + r.str()),
        report_(std::move(r)) {}
  const LoadReport& report() const { return report_; }

 private:
  LoadReport report_;
};

namespace detail {

struct StateDictWriter {
  io::TensorMap& out;
  template <class P>
  void parameter(const std::string& name, P& p) { out.insert_new(name, io::HostTensor::from_tensor(p.value)); }
  template <class B>
  void buffer(const std::string& name, B& b) { out.insert_new(name, io::HostTensor::from_tensor(b)); }
  void counter(const std::string& name, int64_t& c) { out.insert_new(name, io::HostTensor::scalar<int64_t>(c)); }
};

// Pass 1 (apply == false) checks names and shapes; pass 2 (apply == true) copies values.
struct StateDictReader {
  const io::TensorMap& in;
  const LoadOptions& opt;
  bool apply;
  LoadReport& report;
  std::set<std::string> seen;

  const io::HostTensor* lookup(const std::string& name, bool optional = false) {
    if (!seen.insert(name).second) fail<Error>("model visits the name '", name, "' twice");
    const io::HostTensor* t = in.find(name);
    if (!t && !apply && !optional) report.missing.push_back(name);
    return t;
  }
  template <class T, class D>
  void tensor(const std::string& name, Tensor<T, D>& dst) {
    const io::HostTensor* t = lookup(name);
    if (!t) return;
    if (t->shape != dst.shape().vec()) {
      if (!apply) report.mismatched.push_back(name + ": model " + dst.shape().str() + ", file " + io::shape_str(t->shape));
      return;
    }
    if (apply) {
      dst.copy_from(t->to_tensor<T, cpu>());  // dst may be a view into a flat buffer
      ++report.loaded;
    }
  }
  template <class P>
  void parameter(const std::string& name, P& p) { tensor(name, p.value); }
  template <class B>
  void buffer(const std::string& name, B& b) { tensor(name, b); }
  void counter(const std::string& name, int64_t& c) {
    const io::HostTensor* t = lookup(name, opt.ignore_counters);
    if (!t || opt.ignore_counters) return;
    const bool scalar = t->numel() == 1 && !io::is_floating(t->dtype);
    if (!scalar) {
      if (!apply) report.mismatched.push_back(name + ": model counter (one integer), file " +
                                              io::dtype_name(t->dtype) + " " + io::shape_str(t->shape));
      return;
    }
    if (apply) {
      c = t->item<int64_t>();
      ++report.loaded;
    }
  }
};

inline bool is_counter_name(const std::string& name) {
  static const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace detail

// Parameters, buffers and counters (as int64 scalars) of a model, in visit order.
template <class Model>
io::TensorMap state_dict(Model& model, const std::string& prefix = "") {
  io::TensorMap out;
  detail::StateDictWriter w{out};
  model.visit(w, prefix);
  return out;
}

// Copies a state dict into a model. Strict mode throws StateDictError (listing every
// missing, unexpected and mis-shaped key) before changing anything; non-strict mode loads
// what matches and returns the report. `where` names the source in messages.
template <class Model>
LoadReport load_state_dict(Model& model, const io::TensorMap& sd, const LoadOptions& opt = {},
                           const std::string& where = "") {
  LoadReport report;
  detail::StateDictReader check{sd, opt, false, report, {}};
  model.visit(check, "");
  for (const auto& [name, t] : sd)
    if (!check.seen.count(name) && !(opt.ignore_counters && detail::is_counter_name(name)))
      report.unexpected.push_back(name);
  if (opt.strict && !report.ok()) throw StateDictError(report, where);
  detail::StateDictReader copy{sd, opt, true, report, {}};
  model.visit(copy, "");
  return report;
}

// Writes the model's state dict as safetensors (atomically).
template <class Model>
void save_safetensors(Model& model, const std::string& path, const io::Metadata& metadata = {}) {
  io::write_safetensors(path, state_dict(model), metadata);
}

template <class Model>
LoadReport load_safetensors(Model& model, const std::string& path, const LoadOptions& opt = {}) {
  return load_state_dict(model, io::read_safetensors(path), opt, path);
}

// Loads a PyTorch checkpoint (.pth/.pt/.tar/.ckpt, legacy or zip): finds the state dict
// (io::find_state_dict with `key`), strips a leading "module." and loads it.
template <class Model>
LoadReport load_pytorch(Model& model, const std::string& path, const LoadOptions& opt = {},
                        const std::string& key = "", bool strip_module_prefix = true) {
  io::PyPtr root = io::load_torch(path);
  io::TensorMap sd = io::find_state_dict(*root, key);
  if (strip_module_prefix) sd = io::strip_prefix(sd, "module.");
  return load_state_dict(model, sd, opt, path);
}

// Loads weights by file type: rfcf's .safetensors, otherwise a PyTorch checkpoint.
template <class Model>
LoadReport load_weights(Model& model, const std::string& path, const LoadOptions& opt = {}) {
  const std::string ext = ".safetensors";
  if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
    return load_safetensors(model, path, opt);
  return load_pytorch(model, path, opt);
}

}  // namespace rfcf::nn
