#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "io/io_test_util.hpp"
#include "rfcf/io/torch_file.hpp"

using namespace rfcf;
using namespace rfcf::io;
using rfcf_test::shared;

namespace {

struct OracleRow {
  const char* key;
  std::vector<int64_t> shape;
  const char* dtype;
  uint64_t offset;
  double first;
  double sum;
};

const std::vector<OracleRow> kRetinaFace = {
#include "io/retinaface_mnet025_oracle.inc"
};
const std::vector<OracleRow> kMobileFaceNet = {
#include "io/mobilefacenet_casia_oracle.inc"
};

// Checks every entry of a state dict against an appendix table of the specs.
void check_oracle(const PyValue& sd_dict, const std::vector<OracleRow>& oracle, bool check_offsets) {
  REQUIRE(sd_dict.is_ordered_dict());
  REQUIRE(sd_dict.size() == oracle.size());
  for (size_t i = 0; i < oracle.size(); ++i) {
    const OracleRow& row = oracle[i];
    const auto& [k, v] = sd_dict.entries()[i];
    INFO("entry " << i << " " << row.key);
    REQUIRE(k->as_string() == row.key);
    REQUIRE(v->is(PyValue::Kind::Tensor));
    const HostTensor& t = v->tensor();
    CHECK(t.shape == row.shape);
    CHECK(t.dtype == (std::string(row.dtype) == "int64" ? DType::I64 : DType::F32));
    if (check_offsets) CHECK(v->ref().storage->file_offset == row.offset);
    const std::vector<double> x = t.as_double();
    REQUIRE(!x.empty());
    CHECK(x[0] == Approx(row.first).epsilon(1e-8));
    double sum = 0, abs_sum = 0;
    for (double e : x) {
      sum += e;
      abs_sum += std::abs(e);
    }
    CHECK(std::abs(sum - row.sum) <= 1e-6 * abs_sum + 1e-9);
  }
}

}  // namespace

TEST_CASE("retinaface_mnet025.pth matches the loader oracle (Appendix A)", "[io][torch]") {
  PyPtr root = load_torch(shared("models/retinaface_mnet025.pth"));
  check_oracle(*root, kRetinaFace, true);
  // BUILD on the state dict kept its _metadata attribute.
  REQUIRE(root->attributes());
  const PyValue& meta = root->attributes()->at("_metadata");
  CHECK(meta.at("").at("version").as_int() == 1);
  CHECK(meta.at("body.stage1.0.1").at("version").as_int() == 2);

  TensorMap sd = find_state_dict(*root);
  CHECK(sd.size() == 300);
  CHECK(sd.names().front() == "body.stage1.0.0.weight");
  CHECK(sd.at("body.stage1.0.1.num_batches_tracked").item<int64_t>() == 146290);
}

TEST_CASE("retinaface_mnet025_zip.pth holds the same tensors as the legacy file", "[io][torch]") {
  PyPtr legacy = load_torch(shared("models/retinaface_mnet025.pth"));
  PyPtr zip = load_torch(shared("models/retinaface_mnet025_zip.pth"));
  check_oracle(*zip, kRetinaFace, false);
  const TensorMap a = find_state_dict(*legacy), b = find_state_dict(*zip);
  REQUIRE(a.names() == b.names());
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(b.at(name).dtype == t.dtype);
    CHECK(b.at(name).shape == t.shape);
    CHECK(b.at(name).bytes == t.bytes);
  }
  // Zip storage data is 64-byte aligned in the archive.
  for (const auto& [k, v] : zip->entries()) CHECK(v->ref().storage->file_offset % 64 == 0);
}

TEST_CASE("mobilenetv1_025_imagenet.tar: nested checkpoint with module. prefix and optimizer state", "[io][torch]") {
  PyPtr root = load_torch(shared("models/mobilenetv1_025_imagenet.tar"));
  REQUIRE(root->is_dict());
  CHECK(!root->is_ordered_dict());
  CHECK(root->at("epoch").as_int() == 18);
  CHECK(root->at("arch").as_string() == "resnet18");
  const HostTensor& acc = root->at("best_acc1").tensor();
  CHECK(acc.shape.empty());
  CHECK(acc.item<double>() == Approx(46.58).epsilon(1e-4));

  TensorMap sd = find_state_dict(*root);
  CHECK(sd.size() == 164);
  for (const auto& [name, t] : sd) CHECK(name.rfind("module.", 0) == 0);
  TensorMap stripped = strip_prefix(sd, "module.");
  CHECK(stripped.names().front() == "stage1.0.0.weight");
  CHECK(stripped.contains("stage3.1.4.num_batches_tracked"));
  CHECK(stripped.at("fc.weight").shape == std::vector<int64_t>{1000, 256});
  CHECK(stripped.at("fc.bias").shape == std::vector<int64_t>{1000});
  // Explicit key works; a wrong one names the problem.
  CHECK(find_state_dict(*root, "state_dict").size() == 164);
  CHECK_THROWS_WITH(find_state_dict(*root, "optimizer"), Catch::Contains("not a dict of tensors"));
  CHECK_THROWS_WITH(find_state_dict(*root, "nope"), Catch::Contains("no entry 'nope'"));

  const PyValue& opt = root->at("optimizer");
  const PyValue& groups = opt.at("param_groups");
  REQUIRE(groups.items().size() == 1);
  const PyValue& g = *groups.items()[0];
  CHECK(g.at("lr").as_double() == Approx(0.001));
  CHECK(g.at("momentum").as_double() == Approx(0.9));
  CHECK(g.at("weight_decay").as_double() == Approx(1e-4));
  CHECK(g.at("nesterov").as_bool() == false);
  const auto& ids = g.at("params").items();
  const PyValue& state = opt.at("state");
  CHECK(state.size() == ids.size());
  // Parameter ids are large ints (LONG1) that key the momentum buffers.
  int64_t params = 0;
  for (const auto& [k, v] : sd) params += (k.find("running_") == std::string::npos && k.find("num_batches") == std::string::npos);
  CHECK(static_cast<int64_t>(ids.size()) == params);
  for (const PyPtr& id : ids) {
    CHECK(id->as_int() > 65535);
    PyPtr entry = state.find(id->as_int());
    REQUIRE(entry);
    CHECK(entry->at("momentum_buffer").is_tensor());
  }
  CHECK(state.find(ids.front()->as_int())->at("momentum_buffer").tensor().shape == sd.at("module.stage1.0.0.weight").shape);
}

TEST_CASE("mobilefacenet_casia.ckpt: net_state_dict with None hooks matches Appendix B", "[io][torch]") {
  PyPtr root = load_torch(shared("models/mobilefacenet_casia.ckpt"));
  CHECK(root->at("epoch").as_int() == 68);
  check_oracle(root->at("net_state_dict"), kMobileFaceNet, true);
  TensorMap sd = find_state_dict(*root);
  CHECK(sd.size() == 333);
  CHECK(sd.at("linear7.conv.weight").shape == std::vector<int64_t>{512, 1, 7, 6});
  CHECK(strip_prefix(sd).names() == sd.names());  // no prefix to strip
}

TEST_CASE("torch 1.13 files with dtypes, views and shared storages (zip and legacy)", "[io][torch]") {
  for (const char* file : {"torch_variants_zip.pth", "torch_variants_legacy.pth"}) {
    INFO(file);
    PyPtr root = load_torch(std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/io/" + file);
    CHECK(root->at("epoch").as_int() == 7);
    CHECK(root->at("lr").as_double() == 0.125);
    CHECK(root->at("name").as_string() == "variants");
    CHECK(root->at("big").as_int() == (int64_t(1) << 40));
    CHECK(root->at("neg").as_int() == -3);
    const auto& flags = root->at("flags").items();
    REQUIRE(flags.size() == 3);
    CHECK(flags[0]->as_bool());
    CHECK(flags[1]->is_none());
    CHECK(flags[2]->items()[1]->as_double() == 2.5);

    const PyValue& m = root->at("model");
    std::vector<float> base(12);
    for (int i = 0; i < 12; ++i) base[static_cast<size_t>(i)] = static_cast<float>(i);
    CHECK(m.at("f32").tensor().as_float() == base);
    CHECK(m.at("f16").tensor().dtype == DType::F16);
    CHECK(m.at("f16").tensor().as_float()[5] == 1.25f);
    CHECK(m.at("bf16").tensor().dtype == DType::BF16);
    CHECK(m.at("bf16").tensor().as_float()[0] == -5.0f);
    CHECK(m.at("f64").tensor().as_double()[11] == 5.5);
    CHECK(m.at("i64").tensor().as_int64()[4] == 4000000000000);
    CHECK(m.at("i32").tensor().as<int>() == std::vector<int>{-2, -1, 0, 1, 2});
    CHECK(m.at("u8").tensor().as<int>() == std::vector<int>{0, 1, 255});
    CHECK(m.at("i8").tensor().as<int>() == std::vector<int>{-128, 0, 127});
    CHECK(m.at("i16").tensor().as<int>() == std::vector<int>{-300, 300});
    CHECK(m.at("bool").tensor().dtype == DType::Bool);
    CHECK(m.at("bool").tensor().as<int>() == std::vector<int>{1, 0, 1});
    // Transposed view: element (i, j) = base[j][i].
    const HostTensor& tr = m.at("transposed").tensor();
    CHECK(tr.shape == std::vector<int64_t>{4, 3});
    CHECK(m.at("transposed").ref().stride == std::vector<int64_t>{1, 4});
    CHECK(tr.as_float() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    CHECK(m.at("offset_view").ref().offset == 5);
    CHECK(m.at("offset_view").tensor().as_float() == std::vector<float>{5, 6, 7, 8});
    CHECK(m.at("shared_a").ref().storage == m.at("shared_b").ref().storage);
    CHECK(m.at("shared_b").tensor().as_float() == std::vector<float>{6, 7, 8, 9, 10, 11});
    CHECK(m.at("scalar").tensor().shape.empty());
    CHECK(m.at("scalar").tensor().item<float>() == 3.25f);
    CHECK(m.at("empty").tensor().shape == std::vector<int64_t>{0, 3});
    CHECK(m.at("empty").tensor().bytes.empty());
    CHECK(m.at("param").tensor().as_float() == std::vector<float>{1, 1, 1, 1});
    CHECK(find_state_dict(*root).size() == m.size());  // found under "model"
  }
}

TEST_CASE("corrupted checkpoints give FormatError, never a crash", "[io][torch]") {
  auto bytes = read_file_bytes(shared("models/retinaface_mnet025.pth"));
  auto parse = [](const std::vector<uint8_t>& b) { parse_torch(b.data(), b.size(), "corrupt"); };
  // Truncations: inside each pickle, at the storages and one byte short.
  for (size_t len : {size_t(0), size_t(3), size_t(14), size_t(20), size_t(100), size_t(137), size_t(5000),
                     size_t(47331), size_t(47332), size_t(50000), size_t(53775), size_t(53780), size_t(900000),
                     bytes.size() - 1}) {
    INFO("truncated to " << len);
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + static_cast<long>(len));
    CHECK_THROWS_AS(parse(t), FormatError);
  }
  // Trailing garbage.
  auto longer = bytes;
  longer.push_back(0);
  CHECK_THROWS_WITH(parse(longer), Catch::Contains("unexpected bytes after the last storage"));
  // A wrong storage element count (first storage count at 53775).
  auto count = bytes;
  count[53775] ^= 1;
  CHECK_THROWS_WITH(parse(count), Catch::Contains("elements, expected"));
  // Flipping bytes anywhere in the pickles either fails cleanly or still loads.
  uint32_t state = 12345;
  for (int i = 0; i < 400; ++i) {
    state = state * 1664525u + 1013904223u;
    auto f = bytes;
    const size_t at = 15 + state % (53775 - 15);
    f[at] = static_cast<uint8_t>(state >> 24);
    try {
      parse(f);
    } catch (const FormatError&) {
    }
  }

  auto zip = read_file_bytes(shared("models/retinaface_mnet025_zip.pth"));
  auto z = zip;
  z[z.size() - 30000] ^= 0x55;  // inside a storage member: CRC mismatch
  CHECK_THROWS_WITH(parse(z), Catch::Contains("CRC-32 mismatch"));
  for (size_t len : {size_t(4), size_t(100), size_t(1000), zip.size() / 2, zip.size() - 1, zip.size() - 22}) {
    INFO("zip truncated to " << len);
    std::vector<uint8_t> t(zip.begin(), zip.begin() + static_cast<long>(len));
    CHECK_THROWS_AS(parse(t), FormatError);
  }
  CHECK_THROWS_AS(load_torch("/nonexistent.pth"), IoError);
}
