// MAT v5 reader: the WIDER FACE ground-truth files (formats.md 6, retinaface.md 11.1) and
// synthetic files covering small elements, narrowed doubles, empty arrays and malformed input.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstring>
#include <random>

#include "rfcf/io/mat.hpp"

using namespace rfcf;
using namespace rfcf::io;

namespace {
const std::string kGt = std::string(RFCF_SHARED_DIR) + "/widerface/ground_truth/";

// Little MAT writer for synthetic files.
using Bytes = std::vector<uint8_t>;
void put32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
Bytes elem(uint32_t type, const Bytes& data) {
  Bytes b;
  if (data.size() <= 4) {
    put32(b, type | (static_cast<uint32_t>(data.size()) << 16));
    b.insert(b.end(), data.begin(), data.end());
    b.resize(8, 0);
    return b;
  }
  put32(b, type);
  put32(b, static_cast<uint32_t>(data.size()));
  b.insert(b.end(), data.begin(), data.end());
  b.resize((b.size() + 7) / 8 * 8, 0);
  return b;
}
Bytes matrix(uint32_t cls, std::vector<int32_t> dims, const std::string& name, const Bytes& payload) {
  Bytes flags;
  put32(flags, cls);
  put32(flags, 0);
  Bytes d;
  for (int32_t x : dims) put32(d, static_cast<uint32_t>(x));
  Bytes body = elem(6, flags);
  Bytes e = elem(5, d);
  body.insert(body.end(), e.begin(), e.end());
  e = elem(1, Bytes(name.begin(), name.end()));
  body.insert(body.end(), e.begin(), e.end());
  body.insert(body.end(), payload.begin(), payload.end());
  Bytes out;
  put32(out, 14);
  put32(out, static_cast<uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
Bytes header() {
  std::string text = "MATLAB 5.0 MAT-file, rfcf test";
  Bytes h(text.begin(), text.end());
  h.resize(116, ' ');
  h.resize(124, 0);
  h.push_back(0x00);
  h.push_back(0x01);
  h.push_back('I');
  h.push_back('M');
  return h;
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes compressed(const Bytes& element) {
  uLongf n = compressBound(element.size());
  Bytes z(n);
  REQUIRE(compress(z.data(), &n, element.data(), element.size()) == Z_OK);
  z.resize(n);
  Bytes out;
  put32(out, 15);
  put32(out, static_cast<uint32_t>(z.size()));
  out.insert(out.end(), z.begin(), z.end());
  return out;
}
MatFile parse(const Bytes& b, MatLimits l = {}) { return parse_mat(b.data(), b.size(), l); }

// A file like the WIDER ones: a cell of char, a cell of int32 n x 4, narrowed doubles, empties.
Bytes sample_variables() {
  Bytes ch = matrix(4, {1, 9}, "", elem(16, Bytes{'0', '-', '-', 'P', 'a', 'r', 'a', 'd', 'e'}));
  Bytes ev = matrix(1, {1, 1}, "event_list", ch);
  Bytes i32;
  for (int32_t v : {1, 5, 2, 6, 3, 7, 4, 8}) put32(i32, static_cast<uint32_t>(v));
  Bytes boxes = matrix(1, {1, 1}, "face_bbx_list", matrix(12, {2, 4}, "", elem(5, i32)));
  Bytes keep = matrix(1, {3, 1}, "gt_list",
                      cat({matrix(6, {2, 1}, "", elem(2, Bytes{1, 2})),            // double as miUINT8 (small element)
                           matrix(6, {1, 1}, "", elem(4, Bytes{0x2C, 0x01})),      // double 300 as miUINT16
                           matrix(6, {0, 0}, "", Bytes{})}));                        // empty 0x0
  Bytes empty_matrix;
  put32(empty_matrix, 14);
  put32(empty_matrix, 0);
  Bytes labels = matrix(1, {2, 1}, "blur_label_list", cat({matrix(9, {3, 1}, "", elem(2, Bytes{0, 1, 2})), empty_matrix}));
  return cat({ev, boxes, keep, labels});
}

void check_sample(const MatFile& f) {
  REQUIRE(f.variables.size() == 4);
  CHECK(f["event_list"].cell(0).str() == "0--Parade");
  const MatArray& b = f["face_bbx_list"].cell(0);
  CHECK(b.cls == MatClass::int32);
  CHECK(b.rows() == 2);
  CHECK(b.cols() == 4);
  CHECK(b.at(1, 0) == 5);  // column-major: x of box 1
  CHECK(b.at(0, 3) == 4);
  const MatArray& k = f["gt_list"];
  CHECK(k.cell(0).cls == MatClass::float64);
  CHECK(k.cell(0).numeric == std::vector<double>{1, 2});
  CHECK(k.cell(1).numeric == std::vector<double>{300});
  CHECK(k.cell(2).is_empty());
  CHECK(k.cell(2).dims == std::vector<int64_t>{0, 0});
  CHECK(f["blur_label_list"].cell(0).numeric == std::vector<double>{0, 1, 2});
  CHECK(f["blur_label_list"].cell(1).cls == MatClass::empty);
}
}  // namespace

TEST_CASE("mat: synthetic plain and compressed files") {
  Bytes vars = sample_variables();
  check_sample(parse(cat({header(), vars})));

  // The same variables, each in its own miCOMPRESSED element (unpadded).
  MatFile plain = parse(cat({header(), vars}));
  Bytes comp = header();
  size_t pos = 0;
  while (pos < vars.size()) {
    uint32_t n;
    std::memcpy(&n, vars.data() + pos + 4, 4);
    Bytes one(vars.begin() + static_cast<long>(pos), vars.begin() + static_cast<long>(pos + 8 + n));
    Bytes c = compressed(one);
    comp.insert(comp.end(), c.begin(), c.end());
    pos += 8 + n;
  }
  check_sample(parse(comp));

  // Inflation limit.
  MatLimits small;
  small.max_inflated_bytes = 64;
  CHECK_THROWS_AS(parse(comp, small), FormatError);
}

TEST_CASE("mat: malformed input throws FormatError, never crashes") {
  Bytes good = cat({header(), sample_variables()});
  // Every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      parse(Bytes(good.begin(), good.begin() + static_cast<long>(n)));
    } catch (const FormatError&) {
    }
  }
  CHECK_THROWS_AS(parse(Bytes(good.begin(), good.begin() + 100)), FormatError);
  CHECK_THROWS_AS(parse(Bytes(good.begin(), good.end() - 3)), FormatError);
  // Random byte corruption.
  std::mt19937 rng(1);
  int threw = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Bytes b = good;
    for (int k = 0; k < 3; ++k) b[128 + rng() % (b.size() - 128)] = static_cast<uint8_t>(rng());
    try {
      parse(b);
    } catch (const FormatError&) {
      ++threw;
    }
  }
  CHECK(threw > 0);

  Bytes big_endian = good;
  big_endian[126] = 'M';
  big_endian[127] = 'I';
  CHECK_THROWS_AS(parse(big_endian), FormatError);
  // A cell claiming 2^30 elements.
  CHECK_THROWS_AS(parse(cat({header(), matrix(1, {32768, 32768}, "c", Bytes{})})), FormatError);
  // Struct arrays (class 2) are outside the subset.
  CHECK_THROWS_AS(parse(cat({header(), matrix(2, {1, 1}, "s", Bytes{})})), FormatError);
  // Data size that does not match the dimensions.
  CHECK_THROWS_AS(parse(cat({header(), matrix(12, {2, 2}, "x", elem(5, Bytes(12, 0)))})), FormatError);
  // Corrupt zlib stream.
  Bytes z = compressed(matrix(9, {1, 1}, "u", elem(2, Bytes{7})));
  z[10] ^= 0xFF;
  z[11] ^= 0xFF;
  CHECK_THROWS_AS(parse(cat({header(), z})), FormatError);
  // Deep nesting.
  Bytes nested = matrix(9, {1, 1}, "", elem(2, Bytes{1}));
  for (int i = 0; i < 40; ++i) nested = matrix(1, {1, 1}, "", nested);
  MatLimits lim;
  lim.max_depth = 32;
  CHECK_THROWS_AS(parse(cat({header(), nested}), lim), FormatError);
  // Too many arrays: a compressed stream of empty cells must not exhaust memory.
  Bytes many;
  for (int i = 0; i < 5000; ++i) many.insert(many.end(), {14, 0, 0, 0, 0, 0, 0, 0});
  MatLimits few;
  few.max_arrays = 1000;
  CHECK_THROWS_AS(parse(cat({header(), compressed(matrix(1, {5000, 1}, "c", many))}), few), FormatError);
  CHECK(parse(cat({header(), compressed(matrix(1, {5000, 1}, "c", many))})).variables[0].cells.size() == 5000);
  CHECK_THROWS_AS(read_mat("/nonexistent/file.mat"), IoError);
}

TEST_CASE("mat: wider_face_val.mat content (retinaface.md 11.1)") {
  MatFile f = read_mat(kGt + "wider_face_val.mat");
  REQUIRE(f.variables.size() == 9);
  CHECK(f.header_text.rfind("MATLAB 5.0 MAT-file", 0) == 0);
  for (size_t i = 1; i < f.variables.size(); ++i) CHECK(f.variables[i - 1].name < f.variables[i].name);
  const MatArray& ev = f["event_list"];
  REQUIRE(ev.dims == std::vector<int64_t>{61, 1});
  CHECK(ev.cell(0).str() == "0--Parade");
  CHECK(ev.cell(1).str() == "1--Handshaking");
  CHECK(ev.cell(2).str() == "10--People_Marching");
  CHECK(ev.cell(60).str() == "9--Press_Conference");
  int64_t images = 0, boxes = 0, max_boxes = 0, degenerate = 0, invalid = 0;
  for (int64_t i = 0; i < 61; ++i) {
    const MatArray& files = f["file_list"].cell(i);
    const MatArray& bb = f["face_bbx_list"].cell(i);
    REQUIRE(files.numel() == bb.numel());
    images += files.numel();
    for (int64_t j = 0; j < bb.numel(); ++j) {
      const MatArray& b = bb.cell(j);
      REQUIRE(b.cls == MatClass::int32);
      REQUIRE(b.cols() == 4);
      boxes += b.rows();
      max_boxes = std::max(max_boxes, b.rows());
      for (int64_t k = 0; k < b.rows(); ++k) degenerate += (b.at(k, 2) <= 0 || b.at(k, 3) <= 0);
      const MatArray& inv = f["invalid_label_list"].cell(i).cell(j);
      CHECK(inv.cls == MatClass::uint8);
      for (double v : inv.numeric) invalid += v != 0;
      const std::string& stem = files.cell(j).str();
      CHECK((!stem.empty() && std::isdigit(static_cast<unsigned char>(stem.back()))));
    }
  }
  CHECK(images == 3226);
  CHECK(boxes == 39708);
  CHECK(max_boxes == 709);
  CHECK(degenerate == 11);
  CHECK(invalid == 585);
}

TEST_CASE("mat: keep lists of the three settings") {
  const std::vector<std::pair<std::string, int64_t>> settings = {
      {"wider_easy_val.mat", 7211}, {"wider_medium_val.mat", 13319}, {"wider_hard_val.mat", 31958}};
  for (const auto& [file, expect] : settings) {
    MatFile f = read_mat(kGt + file);
    INFO(file);
    REQUIRE(f.variables.size() == 10);
    int64_t kept = 0;
    double max_index = 0;
    bool saw_0x0 = false, saw_0x1 = false;
    for (int64_t i = 0; i < 61; ++i)
      for (const MatArray& k : f["gt_list"].cell(i).cells) {
        kept += k.numel();
        if (k.is_empty()) {
          saw_0x0 |= k.dims == std::vector<int64_t>{0, 0};
          saw_0x1 |= k.dims == std::vector<int64_t>{0, 1};
        } else {
          CHECK(k.cls == MatClass::float64);
        }
        for (double v : k.numeric) max_index = std::max(max_index, v);
      }
    CHECK(kept == expect);
    CHECK((saw_0x0 || saw_0x1));
    if (file == "wider_hard_val.mat") CHECK(max_index == 708);
  }
}
