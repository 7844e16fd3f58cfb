#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "io/io_test_util.hpp"
#include "rfcf/io/safetensors.hpp"

using namespace rfcf;
using namespace rfcf::io;
using rfcf_test::TempDir;

namespace {

// A safetensors file from a literal header and buffer (no padding added).
std::vector<uint8_t> make_file(const std::string& header, const std::vector<uint8_t>& buffer) {
  std::vector<uint8_t> b;
  rfcf_test::put_u64(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), buffer.begin(), buffer.end());
  return b;
}

std::string parse_error(const std::vector<uint8_t>& b) {
  try {
    parse_safetensors(b.data(), b.size(), "test");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("half and bfloat16 conversions", "[io][safetensors]") {
  CHECK(half_to_float(0x3C00) == 1.0f);
  CHECK(half_to_float(0xC000) == -2.0f);
  CHECK(half_to_float(0x7BFF) == 65504.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));
  CHECK(half_to_float(0x0200) == std::ldexp(1.0f, -15));
  CHECK(std::isinf(half_to_float(0x7C00)));
  CHECK(std::isnan(half_to_float(0x7E00)));
  // Every finite half survives a round trip through float.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;
    REQUIRE(float_to_half(half_to_float(static_cast<uint16_t>(h))) == h);
  }
  CHECK(float_to_half(65520.0f) == 0x7C00);         // ties to even -> Inf
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);  // tie, even stays
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0);  // tie below the smallest subnormal
  CHECK(float_to_half(std::ldexp(1.5f, -25)) == 1);
  CHECK(bf16_to_float(0x3F80) == 1.0f);
  CHECK(float_to_bf16(1.0f) == 0x3F80);
  CHECK(float_to_bf16(std::bit_cast<float>(0x3F808000u)) == 0x3F80);  // tie to even
  CHECK(float_to_bf16(std::bit_cast<float>(0x3F818000u)) == 0x3F82);
  CHECK(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

TEST_CASE("safetensors round trip keeps names, dtypes, shapes, values and metadata", "[io][safetensors]") {
  TensorMap m;
  m.set("z.weight", HostTensor::from_values<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  m.set("a.count", HostTensor::scalar<int64_t>(146290));
  m.set("b.mask", HostTensor::from_values<bool>({3}, {true, false, true}));
  m.set("c.empty", HostTensor::from_values<float>({0, 4}, {}));
  m.set("d.f64", HostTensor::from_values<double>({2}, {0.1, -1e300}));
  m.set("e.i32", HostTensor::from_values<int32_t>({1, 1}, {-7}));
  m.set("f.u8", HostTensor::from_values<uint8_t>({3}, {0, 128, 255}));
  HostTensor h;
  h.dtype = DType::F16;
  h.shape = {2};
  h.bytes = {0x00, 0x3C, 0x00, 0xC0};  // 1, -2
  m.set("g.half", h);
  h.dtype = DType::BF16;
  h.bytes = {0x80, 0x3F, 0x00, 0xC0};  // 1, -2
  m.set("h.bf16", h);

  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, m, {{"image", "kids"}, {"size", "1024x768"}});
  CHECK(dir.entries() == std::vector<std::string>{"t.safetensors"});  // no temporary left

  const auto raw = read_file_bytes(path);
  uint64_t n;
  std::memcpy(&n, raw.data(), 8);
  CHECK((8 + n) % 8 == 0);
  // Sorted key order: the first tensor in the buffer is "a.count".
  const std::string header(raw.begin() + 8, raw.begin() + 8 + static_cast<long>(n));
  CHECK(header.find("\"a.count\"") < header.find("\"z.weight\""));
  CHECK(header.find("{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}") != std::string::npos);

  SafetensorsFile f = read_safetensors_file(path);
  REQUIRE(f.tensors.size() == m.size());
  CHECK(f.metadata == Metadata{{"image", "kids"}, {"size", "1024x768"}});
  for (const auto& [name, t] : m) {
    const HostTensor& r = f.tensors.at(name);
    CHECK(r.dtype == t.dtype);
    CHECK(r.shape == t.shape);
    CHECK(r.bytes == t.bytes);
  }
  CHECK(f.tensors.at("a.count").item<int64_t>() == 146290);
  CHECK(f.tensors.at("g.half").as_float() == std::vector<float>{1, -2});
  CHECK(f.tensors.at("h.bf16").as_float() == std::vector<float>{1, -2});
  CHECK(f.tensors.at("d.f64").as_float() == std::vector<float>{0.1f, -INFINITY});
  CHECK(f.tensors.at("b.mask").as<int>() == std::vector<int>{1, 0, 1});

  auto t = f.tensors.at("z.weight").to_tensor<double>();
  CHECK(t.shape() == Shape{2, 3});
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(HostTensor::from_tensor(t).dtype == DType::F64);
}

TEST_CASE("safetensors writing is atomic: failures leave no file behind", "[io][safetensors]") {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  TensorMap m;
  HostTensor bad;
  bad.shape = {4};
  bad.bytes.resize(3);  // inconsistent with the shape
  m.set("bad", bad);
  CHECK_THROWS_AS(write_safetensors(path, m), Error);
  CHECK(dir.entries().empty());

  // A failing producer: the old content stays, the temporary file is gone.
  atomic_write(path, std::string("old"));
  CHECK_THROWS_WITH(atomic_write(path, [](FileWriter& w) {
                      w.write(std::string("partial"));
                      throw IoError("disk full");
                    }),
                    "disk full");
  CHECK(dir.entries() == std::vector<std::string>{"w.safetensors"});
  const auto bytes = read_file_bytes(path);
  CHECK(std::string(bytes.begin(), bytes.end()) == "old");

  CHECK_THROWS_AS(atomic_write(dir.file("missing/dir/x"), std::string("x")), IoError);
}

TEST_CASE("safetensors reader rejects malformed files with FormatError", "[io][safetensors]") {
  const std::vector<uint8_t> buf8(8, 0);
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(parse_error(make_file(good, buf8)).empty());
  // Header padded with spaces is fine.
  REQUIRE(parse_error(make_file(good + "   ", buf8)).empty());

  struct Case {
    std::string name, header;
    std::vector<uint8_t> buffer;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not JSON", R"({"a":)", buf8, "not valid JSON"},
      {"not an object", R"([1,2])", buf8, "starting with '{'"},
      {"duplicate key", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf8, "duplicate key 'a'"},
      {"duplicate field", R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf8, "duplicate key 'dtype'"},
      {"unknown dtype", R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", buf8, "unknown dtype 'F31'"},
      {"unsupported dtype", R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", buf8, "not supported"},
      {"missing field", R"({"a":{"dtype":"F32","shape":[2]}})", buf8, "needs 'dtype', 'shape' and 'data_offsets'"},
      {"negative dim", R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", buf8, "non-negative integers"},
      {"float dim", R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", buf8, "non-negative integers"},
      {"size mismatch", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", buf8, "needs 12 bytes"},
      {"overflowing shape", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", buf8, "overflows"},
      {"byte size overflow", R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", buf8, "overflows"},
      {"end past buffer", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", buf8, "past the 8-byte buffer"},
      {"huge offsets", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})", buf8, "past the 8-byte buffer"},
      {"reversed offsets", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", buf8, "reversed"},
      {"hole", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", buf8, "tile the buffer"},
      {"overlap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", buf8, "tile the buffer"},
      {"trailing bytes", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", buf8, "buffer has 8 bytes"},
      {"metadata not strings", R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", buf8, "not a string"},
      {"too deep", R"({"a":{"dtype":"F32","shape":[[[[[2]]]]],"data_offsets":[0,8]}})", buf8, "nested too deeply"},
      {"rank", R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]}})", buf8, "rank 9"},
      {"bad utf8", std::string("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}"), buf8, "not valid JSON"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string msg = parse_error(make_file(c.header, c.buffer));
    CHECK_THAT(msg, Catch::Contains(c.message));
  }

  // Length field problems.
  std::vector<uint8_t> f = make_file(good, buf8);
  CHECK_THAT(parse_error(std::vector<uint8_t>(f.begin(), f.begin() + 5)), Catch::Contains("too short"));
  auto big = f;
  const uint64_t huge = 100ull * 1000 * 1000 + 1;
  std::memcpy(big.data(), &huge, 8);
  CHECK_THAT(parse_error(big), Catch::Contains("exceeds the limit"));
  auto past = f;
  const uint64_t n = f.size();
  std::memcpy(past.data(), &n, 8);
  CHECK_THAT(parse_error(past), Catch::Contains("runs past the end"));
  // Every truncation of a valid file is rejected without a crash.
  for (size_t len = 0; len < f.size(); ++len) {
    std::vector<uint8_t> t(f.begin(), f.begin() + static_cast<long>(len));
    CHECK_THROWS_AS(parse_safetensors(t.data(), t.size()), FormatError);
  }
  CHECK_THROWS_AS(read_safetensors("/nonexistent/file.safetensors"), IoError);
}

TEST_CASE("safetensors fixtures of the detector read", "[io][safetensors]") {
  SafetensorsFile raw = read_safetensors_file(rfcf_test::shared("fixtures/retinaface/kids_raw.safetensors"));
  CHECK(raw.metadata.at("image") == "kids");
  CHECK(raw.metadata.at("size") == "1024x768");
  CHECK(raw.tensors.names() == std::vector<std::string>{"conf", "landms", "loc", "priors"});
  CHECK(raw.tensors.at("conf").shape == std::vector<int64_t>{32256, 2});
  CHECK(raw.tensors.at("landms").shape == std::vector<int64_t>{32256, 10});
  const auto priors = raw.tensors.at("priors").as_float();
  REQUIRE(priors.size() == 32256u * 4);
  CHECK(std::all_of(priors.begin(), priors.end(), [](float p) { return std::isfinite(p); }));

  SafetensorsFile layers = read_safetensors_file(rfcf_test::shared("fixtures/retinaface/kids_320x240_layers.safetensors"));
  CHECK(layers.tensors.at("body.stage1").shape == std::vector<int64_t>{64, 30, 40});
  CHECK(layers.tensors.at("conf").shape == std::vector<int64_t>{3160, 2});
  // Re-serialising reproduces the fixture byte for byte (same conventions).
  const auto original = read_file_bytes(rfcf_test::shared("fixtures/retinaface/kids_raw.safetensors"));
  const bool identical = serialize_safetensors(raw.tensors, raw.metadata) == original;
  CHECK(identical);
}

// Writes a file with every supported dtype for tests/io/check_rfcf_safetensors.py, which
// loads it with Python's safetensors library and an independent numpy parser. The file
// goes to $RFCF_SAFETENSORS_EXPORT if set (for that manual check), else to a temp dir.
TEST_CASE("safetensors file for the Python cross-check", "[io][safetensors]") {
  TensorMap m;
  m.set("f32", HostTensor::from_values<float>({2, 3}, {0.5f, -1, 2, 3.25f, 1e-3f, 7}));
  m.set("f64", HostTensor::from_values<double>({3}, {0.1, -2.5, 1e100}));
  m.set("i64", HostTensor::from_values<int64_t>({}, {int64_t(146290)}));
  m.set("i32", HostTensor::from_values<int32_t>({2, 1}, {-7, 9}));
  m.set("u8", HostTensor::from_values<uint8_t>({3}, {0, 128, 255}));
  m.set("bool", HostTensor::from_values<bool>({2}, {true, false}));
  m.set("empty", HostTensor::from_values<float>({0, 4}, {}));
  HostTensor h;
  h.dtype = DType::F16;
  h.shape = {2};
  h.bytes = {0x00, 0x3C, 0x00, 0xC0};  // 1, -2
  m.set("f16", h);
  h.dtype = DType::BF16;
  h.bytes = {0x80, 0x3F, 0x40, 0xC0};  // 1, -3
  m.set("bf16", h);
  TempDir dir;
  const char* env = std::getenv("RFCF_SAFETENSORS_EXPORT");
  const std::string path = env ? std::string(env) : dir.file("rfcf_written.safetensors");
  write_safetensors(path, m, {{"writer", "rfcf"}, {"purpose", "python cross-check"}});
  CHECK(read_safetensors_file(path).tensors.size() == 9);
}
