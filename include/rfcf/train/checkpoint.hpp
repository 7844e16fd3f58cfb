#pragma once
// Training checkpoints: model parameters, buffers and counters, optimizer state, training
// counters (step, epoch, ...) and random generator states in ONE safetensors file, replaced
// atomically (a crash while saving leaves the previous checkpoint intact).
//
// Layout of the file:
//   <model names>                 parameters/buffers in their own dtype, counters as int64
//                                 scalars: PyTorch names, so the weights load by name anywhere
//   optimizer.step                int64 scalar
//   optimizer.<param>.<state>     momentum_buffer / exp_avg / exp_avg_sq per parameter
//   train.<name>                  int64 scalars registered with counter() (step, epoch, ...)
//   __metadata__ rng.<name>       std::mt19937_64 state as text; plus user metadata
//
//   train::Checkpoint ckpt;
//   ckpt.model(net).optimizer(sgd).counter("step", step).counter("epoch", epoch).generator("data", rng);
//   ckpt.save("run/last.safetensors");   ...   ckpt.load("run/last.safetensors");
// load() restores everything in place (the tensors keep their storage, so FlatParameters
// views stay valid). It is strict: a missing key, a shape mismatch or an unused key in the
// file is an error naming the key and the file, and nothing is modified unless all match.
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/io/safetensors.hpp"
#include "rfcf/nn/module.hpp"

namespace rfcf::train {

class Checkpoint {
 public:
  // Every parameter, buffer and counter of `model`, under its visitor names (prefix optional).
  template <class Model>
  Checkpoint& model(Model& m, const std::string& prefix = "") {
    add_source([&m, prefix](auto& visitor) { m.visit(visitor, prefix); });
    return *this;
  }
  // Optimizer state via Optimizer::visit_state (train::SGD, train::AdamW).
  template <class Optimizer>
  Checkpoint& optimizer(Optimizer& o, const std::string& prefix = "optimizer") {
    add_source([&o, prefix](auto& visitor) { o.visit_state(visitor, prefix); });
    return *this;
  }
  // An int64 training counter stored as "train.<name>".
  Checkpoint& counter(const std::string& name, int64_t& value) {
    counters_.push_back({nn::join_name("train", name), &value});
    return *this;
  }
  // A generator whose exact state is restored (shuffling, augmentation, dropout).
  Checkpoint& generator(const std::string& name, Generator& g) {
    generators_.push_back({"rng." + name, &g});
    return *this;
  }
  // Free-form metadata saved with the checkpoint (e.g. the configuration); read back by load().
  Checkpoint& metadata(const std::string& key, std::string value) {
    metadata_[key] = std::move(value);
    return *this;
  }
  const io::Metadata& metadata() const { return metadata_; }

  void save(const std::string& path) const {
    io::TensorMap map;
    SaveVisitor v{&map};
    for (const auto& s : sources_) s.save(v);
    for (const auto& [name, value] : counters_) map.insert_new(name, io::HostTensor::scalar<int64_t>(*value));
    io::Metadata meta = metadata_;
    meta["format"] = "rfcf-checkpoint-1";
    for (const auto& [name, g] : generators_) {
      std::ostringstream os;
      os << g->engine();
      meta[name] = os.str();
    }
    io::write_safetensors(path, map, meta);
  }

  void load(const std::string& path) {
    io::Metadata meta;
    const io::TensorMap map = io::read_safetensors(path, &meta);
    std::vector<std::mt19937_64> engines;
    for (const auto& [name, g] : generators_) {
      auto it = meta.find(name);
      check<FormatError>(it != meta.end(), "checkpoint ", path, ": no random generator state '", name, "'");
      std::istringstream is(it->second);
      engines.emplace_back();
      is >> engines.back();
      check<FormatError>(!is.fail(), "checkpoint ", path, ": malformed random generator state '", name, "'");
    }
    // The first pass checks every key and shape; only the second one copies.
    for (int apply = 0; apply < 2; ++apply) {
      LoadVisitor v{&map, &path, apply == 1, {}};
      for (auto& s : sources_) s.load(v);
      for (auto& [name, value] : counters_) v.counter(name, *value);
      if (apply == 0) {
        for (const auto& [name, t] : map) {
          check<FormatError>(v.used.count(name) != 0, "checkpoint ", path, ": unexpected tensor '", name,
                             "' (not part of the model, optimizer or counters being loaded)");
        }
      }
    }
    for (size_t i = 0; i < generators_.size(); ++i) {
      generators_[i].second->engine() = engines[i];
      meta.erase(generators_[i].first);
    }
    meta.erase("format");
    metadata_ = std::move(meta);
  }

 private:
  struct SaveVisitor {
    io::TensorMap* map;
    template <class P>
    void parameter(const std::string& name, P& p) { buffer(name, p.value); }
    template <class T, class D>
    void buffer(const std::string& name, Tensor<T, D>& t) {
      map->insert_new(name, io::HostTensor::from_tensor(t));
    }
    void counter(const std::string& name, int64_t& c) { map->insert_new(name, io::HostTensor::scalar<int64_t>(c)); }
  };

  struct LoadVisitor {
    const io::TensorMap* map;
    const std::string* path;
    bool apply;
    std::set<std::string> used;

    const io::HostTensor& find(const std::string& name) {
      const io::HostTensor* t = map->find(name);
      check<FormatError>(t != nullptr, "checkpoint ", *path, ": missing tensor '", name, "'");
      used.insert(name);
      return *t;
    }
    template <class P>
    void parameter(const std::string& name, P& p) { buffer(name, p.value); }
    template <class T, class D>
    void buffer(const std::string& name, Tensor<T, D>& t) {
      const io::HostTensor& h = find(name);
      check<ShapeError>(h.shape == t.shape().vec(), "checkpoint ", *path, ": '", name, "' has shape ",
                        io::shape_str(h.shape), " but the model expects ", t.shape().str());
      if (apply) t.copy_from(Tensor<T, cpu>::from_host(t.shape(), h.as<T>()));
    }
    void counter(const std::string& name, int64_t& c) {
      const io::HostTensor& h = find(name);
      check<ShapeError>(h.numel() == 1, "checkpoint ", *path, ": counter '", name, "' has shape ",
                        io::shape_str(h.shape));
      if (apply) c = h.item<int64_t>();
    }
  };

  // A model or optimizer, walked with either visitor.
  struct Source {
    std::function<void(SaveVisitor&)> save;
    std::function<void(LoadVisitor&)> load;
  };
  template <class Walk>
  void add_source(Walk walk) {
    sources_.push_back({[walk](SaveVisitor& v) { walk(v); }, [walk](LoadVisitor& v) { walk(v); }});
  }

  std::vector<Source> sources_;
  std::vector<std::pair<std::string, int64_t*>> counters_;
  std::vector<std::pair<std::string, Generator*>> generators_;
  io::Metadata metadata_;
};

}  // namespace rfcf::train
