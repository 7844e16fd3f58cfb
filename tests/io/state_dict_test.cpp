#include <catch2/catch.hpp>

#include "io/io_test_util.hpp"
#include "rfcf/core.hpp"
#include "rfcf/nn.hpp"
#include "rfcf/nn/state_dict.hpp"

using namespace rfcf;
using rfcf_test::TempDir;

namespace {

// A test layer with one parameter, one buffer and one counter (like a tiny BatchNorm).
template <class T, class D>
class Probe : public nn::LayerBase {
 public:
  using value_type = T;
  using device_type = D;
  Probe(int64_t c, T start) : weight(Shape{c}), running_mean(Shape{c}) {
    std::vector<T> w(static_cast<size_t>(c)), m(static_cast<size_t>(c));
    for (int64_t i = 0; i < c; ++i) {
      w[static_cast<size_t>(i)] = start + T(i);
      m[static_cast<size_t>(i)] = -start - T(i);
    }
    weight.value = Tensor<T, D>::from_host(Shape{c}, w);
    running_mean = Tensor<T, D>::from_host(Shape{c}, m);
  }
  Tensor<T, D> forward(const Tensor<T, D>& x) { return x; }
  Tensor<T, D> backward(const Tensor<T, D>& dy) { return dy; }
  template <class V>
  void visit(V& v, const std::string& prefix) {
    v.parameter(nn::join_name(prefix, "weight"), weight);
    v.buffer(nn::join_name(prefix, "running_mean"), running_mean);
    v.counter(nn::join_name(prefix, "num_batches_tracked"), num_batches_tracked);
  }
  nn::Parameter<T, D> weight;
  Tensor<T, D> running_mean;
  int64_t num_batches_tracked = 0;
};

// A layer whose only entry is "param" [2, 2].
struct OneParam : nn::LayerBase {
  using value_type = float;
  using device_type = cpu;
  nn::Parameter<float, cpu> param{Shape{2, 2}};
  Tensor<float, cpu> forward(const Tensor<float, cpu>& x) { return x; }
  Tensor<float, cpu> backward(const Tensor<float, cpu>& x) { return x; }
  template <class V>
  void visit(V& v, const std::string& prefix) { v.parameter(nn::join_name(prefix, "param"), param); }
};

template <class T>
auto make_model(T start) {
  return nn::Sequential{Probe<T, cpu>(3, start), nn::LeakyReLU<T, cpu>(0.1), Probe<T, cpu>(2, start * 10)};
}

}  // namespace

TEST_CASE("state_dict lists parameters, buffers and counters with PyTorch names", "[io][state_dict]") {
  auto model = make_model<float>(1);
  model.template get<2>().num_batches_tracked = 146290;
  io::TensorMap sd = nn::state_dict(model);
  CHECK(sd.names() == std::vector<std::string>{"0.weight", "0.running_mean", "0.num_batches_tracked", "2.weight",
                                               "2.running_mean", "2.num_batches_tracked"});
  CHECK(sd.at("0.weight").dtype == io::DType::F32);
  CHECK(sd.at("0.weight").as_float() == std::vector<float>{1, 2, 3});
  CHECK(sd.at("2.running_mean").as_float() == std::vector<float>{-10, -11});
  CHECK(sd.at("2.num_batches_tracked").dtype == io::DType::I64);
  CHECK(sd.at("2.num_batches_tracked").shape.empty());
  CHECK(sd.at("2.num_batches_tracked").item<int64_t>() == 146290);
}

TEST_CASE("save_safetensors / load_safetensors round trip, into flat parameters too", "[io][state_dict]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  auto src = make_model<float>(5);
  src.template get<0>().num_batches_tracked = 7;
  nn::save_safetensors(src, path, {{"arch", "probe"}});
  io::Metadata meta;
  io::read_safetensors(path, &meta);
  CHECK(meta.at("arch") == "probe");

  auto dst = make_model<float>(0);
  nn::FlatParameters<float, cpu> flat(dst);  // parameters become views of one buffer
  nn::LoadReport r = nn::load_safetensors(dst, path);
  CHECK(r.ok());
  CHECK(r.loaded == 6);
  CHECK(dst.template get<0>().weight.value.to_vector() == std::vector<float>{5, 6, 7});
  CHECK(dst.template get<2>().running_mean.to_vector() == std::vector<float>{-50, -51});
  CHECK(dst.template get<0>().num_batches_tracked == 7);
  // The flat buffer saw the values (the loader copies into existing storage).
  const auto all = flat.values().to_vector();
  CHECK(all[0] == 5);
  CHECK(all[16] == 50);

  // A double model loads the float file with conversion, and F16/F64 inputs convert to float.
  auto dbl = make_model<double>(0);
  CHECK(nn::load_safetensors(dbl, path).ok());
  CHECK(dbl.template get<2>().weight.value.to_vector() == std::vector<double>{50, 51});
  io::TensorMap sd = nn::state_dict(src);
  io::HostTensor half;
  half.dtype = io::DType::F16;
  half.shape = {3};
  half.bytes = {0x00, 0x3C, 0x00, 0x40, 0x00, 0x42};  // 1, 2, 3
  sd.set("0.weight", half);
  sd.set("2.weight", io::HostTensor::from_values<double>({2}, {0.5, 0.25}));
  auto f = make_model<float>(0);
  CHECK(nn::load_state_dict(f, sd).ok());
  CHECK(f.template get<0>().weight.value.to_vector() == std::vector<float>{1, 2, 3});
  CHECK(f.template get<2>().weight.value.to_vector() == std::vector<float>{0.5f, 0.25f});
}

TEST_CASE("load_state_dict names every missing, unexpected and mis-shaped key", "[io][state_dict]") {
  auto src = make_model<float>(1);
  io::TensorMap sd = nn::state_dict(src);
  sd.erase("2.weight");
  sd.erase("0.num_batches_tracked");
  sd.set("extra.bias", io::HostTensor::from_values<float>({1}, {1}));
  sd.set("0.running_mean", io::HostTensor::from_values<float>({4}, {1, 2, 3, 4}));
  sd.set("2.num_batches_tracked", io::HostTensor::from_values<float>({}, {1.5f}));

  auto model = make_model<float>(9);
  try {
    nn::load_state_dict(model, sd, {}, "ckpt.pth");
    FAIL("strict load accepted a broken state dict");
  } catch (const nn::StateDictError& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("'ckpt.pth'"));
    CHECK_THAT(msg, Catch::Contains("missing keys (2): 0.num_batches_tracked, 2.weight"));
    CHECK_THAT(msg, Catch::Contains("unexpected keys (1): extra.bias"));
    CHECK_THAT(msg, Catch::Contains("0.running_mean: model [3], file [4]"));
    CHECK_THAT(msg, Catch::Contains("2.num_batches_tracked: model counter"));
    CHECK(e.report().mismatched.size() == 2);
  }
  // A failed strict load changes nothing.
  CHECK(model.template get<0>().weight.value.to_vector() == std::vector<float>{9, 10, 11});

  // Non-strict: loads what matches and reports the rest.
  nn::LoadOptions lenient;
  lenient.strict = false;
  nn::LoadReport r = nn::load_state_dict(model, sd, lenient);
  CHECK(!r.ok());
  CHECK(r.loaded == 2);  // 0.weight, 2.running_mean
  CHECK(r.missing.size() == 2);
  CHECK(r.unexpected == std::vector<std::string>{"extra.bias"});
  CHECK(model.template get<0>().weight.value.to_vector() == std::vector<float>{1, 2, 3});
  CHECK(model.template get<0>().running_mean.to_vector() == std::vector<float>{-9, -10, -11});
}

TEST_CASE("ignore_counters: inference loads without num_batches_tracked", "[io][state_dict]") {
  auto src = make_model<float>(2);
  io::TensorMap sd = nn::state_dict(src);
  sd.erase("0.num_batches_tracked");
  sd.set("2.num_batches_tracked", io::HostTensor::scalar<int64_t>(99));
  auto model = make_model<float>(0);
  model.template get<2>().num_batches_tracked = 5;
  CHECK_THROWS_AS(nn::load_state_dict(model, sd), nn::StateDictError);
  nn::LoadOptions opt;
  opt.ignore_counters = true;
  nn::LoadReport r = nn::load_state_dict(model, sd, opt);
  CHECK(r.ok());
  CHECK(r.loaded == 4);
  CHECK(model.template get<2>().num_batches_tracked == 5);  // not loaded
  // A counter-named key the model does not have is still ignored.
  sd.set("9.num_batches_tracked", io::HostTensor::scalar<int64_t>(1));
  CHECK(nn::load_state_dict(model, sd, opt).ok());
}

TEST_CASE("load_pytorch finds the state dict in a torch checkpoint", "[io][state_dict]") {
  // The variants file nests its tensors under "model"; a model with one matching
  // parameter ("param", [2, 2]) loads it non-strictly and reports the other keys.
  OneParam one;
  nn::LoadOptions lenient;
  lenient.strict = false;
  const std::string path = std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/io/torch_variants_zip.pth";
  nn::LoadReport r = nn::load_pytorch(one, path, lenient);
  CHECK(r.loaded == 1);
  CHECK(r.missing.empty());
  CHECK(r.unexpected.size() == 16);
  CHECK(one.param.value.to_vector() == std::vector<float>{1, 1, 1, 1});
  CHECK_THROWS_WITH(nn::load_pytorch(one, path), Catch::Contains("unexpected keys (16)"));
}
