// rfcf::bfloat16 / rfcf::float16: every bit pattern round-trips through float, and conversion
// from float matches PyTorch bit for bit (tests/fixtures/core/gen_half_fixture.py).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "rfcf/core/half.hpp"

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

template <class H>
bool is_nan_bits(uint16_t b);
template <>
bool is_nan_bits<rfcf::bfloat16>(uint16_t b) { return (b & 0x7f80) == 0x7f80 && (b & 0x7f); }
template <>
bool is_nan_bits<rfcf::float16>(uint16_t b) { return (b & 0x7c00) == 0x7c00 && (b & 0x3ff); }

// Exact value of a binary16 bit pattern computed independently (ldexp), for the decoder.
double fp16_value(uint16_t b) {
  const int s = b >> 15, e = (b >> 10) & 31, m = b & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

}  // namespace

TEMPLATE_TEST_CASE("16-bit floats: every bit pattern round-trips through float", "[core][half]", rfcf::bfloat16,
                   rfcf::float16) {
  int mismatches = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    const auto h = TestType::from_bits(static_cast<uint16_t>(b));
    const float f = static_cast<float>(h);
    const TestType back(f);
    if (is_nan_bits<TestType>(static_cast<uint16_t>(b))) {
      if (!std::isnan(f) || !is_nan_bits<TestType>(back.bits)) ++mismatches;
    } else if (back.bits != b) {
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("float16 decodes every bit pattern to its exact value", "[core][half]") {
  for (uint32_t b = 0; b < 65536; ++b) {
    const double want = fp16_value(static_cast<uint16_t>(b));
    const float got = static_cast<float>(rfcf::float16::from_bits(static_cast<uint16_t>(b)));
    if (std::isnan(want)) REQUIRE(std::isnan(got));
    else REQUIRE(static_cast<double>(got) == want);
    if (!std::isnan(want)) REQUIRE(std::signbit(got) == bool(b >> 15));
  }
  // bfloat16 is the upper half of a float
  for (uint32_t b = 0; b < 65536; b += 7) {
    const float got = static_cast<float>(rfcf::bfloat16::from_bits(static_cast<uint16_t>(b)));
    REQUIRE(bits_of(got) == b << 16);
  }
}

TEST_CASE("16-bit conversion from float matches PyTorch bit for bit", "[core][half]") {
  const std::string path = std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/core/half_fixture.bin";
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  in.seekg(0, std::ios::end);
  const auto bytes = static_cast<size_t>(in.tellg());
  in.seekg(0);
  const size_t n = bytes / 8;
  REQUIRE(n * 8 == bytes);
  REQUIRE(n > 4000);
  std::vector<float> x(n);
  std::vector<uint16_t> bf(n), hf(n);
  in.read(reinterpret_cast<char*>(x.data()), static_cast<std::streamsize>(n * 4));
  in.read(reinterpret_cast<char*>(bf.data()), static_cast<std::streamsize>(n * 2));
  in.read(reinterpret_cast<char*>(hf.data()), static_cast<std::streamsize>(n * 2));
  REQUIRE(in.good());
  int nans = 0, bf_bad = 0, hf_bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const rfcf::bfloat16 b(x[i]);
    const rfcf::float16 h(x[i]);
    if (std::isnan(x[i])) {  // PyTorch writes a canonical NaN; only NaN-ness is specified
      ++nans;
      if (!is_nan_bits<rfcf::bfloat16>(b.bits)) ++bf_bad;
      if (!is_nan_bits<rfcf::float16>(h.bits)) ++hf_bad;
      continue;
    }
    if (b.bits != bf[i]) {
      ++bf_bad;
      UNSCOPED_INFO("bf16 x bits " << std::hex << bits_of(x[i]) << " got " << b.bits << " want " << bf[i]);
    }
    if (h.bits != hf[i]) {
      ++hf_bad;
      UNSCOPED_INFO("fp16 x bits " << std::hex << bits_of(x[i]) << " got " << h.bits << " want " << hf[i]);
    }
  }
  CHECK(nans >= 4);
  CHECK(bf_bad == 0);
  CHECK(hf_bad == 0);
}

TEST_CASE("16-bit floats: edge cases and arithmetic through float", "[core][half]") {
  using rfcf::bfloat16;
  using rfcf::float16;
  CHECK(float16(65504.0f).bits == 0x7bff);
  CHECK(float16(65520.0f).bits == 0x7c00);    // the tie above the maximum rounds to infinity
  CHECK(float16(-1e30f).bits == 0xfc00);
  CHECK(float16(std::ldexp(1.0f, -24)).bits == 0x0001);
  CHECK(float16(std::ldexp(1.0f, -25)).bits == 0x0000);  // tie to even: zero
  CHECK(float16(-0.0f).bits == 0x8000);
  CHECK(bfloat16(3.0e38f).bits == 0x7f62);  // bf16 keeps float's range (0x7f61b1e6 rounds up)
  CHECK(std::isinf(static_cast<float>(bfloat16(3.4028235e38f))));  // past the largest bf16: infinity
  CHECK(std::isnan(static_cast<float>(bfloat16(std::nanf("")))));
  // signalling NaN whose payload sits only in the dropped bits stays NaN
  float snan;
  const uint32_t snan_bits = 0x7f800001u;
  std::memcpy(&snan, &snan_bits, 4);
  CHECK(std::isnan(static_cast<float>(bfloat16(snan))));
  CHECK(std::isnan(static_cast<float>(float16(snan))));
  bfloat16 a(1.5f), b(2.25f);
  CHECK(a + b == 3.75f);
  CHECK(a < b);
  a += 1.0f;
  CHECK(static_cast<float>(a) == 2.5f);
  float16 c = 0;
  c *= 3.0f;
  CHECK(static_cast<float>(c) == 0.0f);
}
