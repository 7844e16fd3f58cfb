// RecordIO: byte layout against formats.md 4, split records, round trips, insightface
// header0/identity records, rejection of corrupt files; ImageFolder listing.
#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "io/io_test_support.hpp"
#include "rfcf/io/image_folder.hpp"
#include "rfcf/io/recordio.hpp"

using namespace rfcf;
using namespace rfcf::io;
using Bytes = std::vector<uint8_t>;

static const Bytes kMagic = {0x0A, 0x23, 0xD7, 0xCE};

static Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
static Bytes le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }

static void write_records(const std::string& rec, const std::vector<std::pair<int64_t, Bytes>>& records) {
  RecordWriter w(rec);
  for (const auto& [k, p] : records) w.write(k, p);
  w.close();
}
static std::string slurp_text(const std::string& path) {
  Bytes b = rfcf_test::slurp(path);
  return std::string(b.begin(), b.end());
}

TEST_CASE("RecordIO layout: magic, lrec, padding, index lines", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  std::string rec = tmp.file("a.rec");
  write_records(rec, {{7, {'a', 'b', 'c', 'd', 'e'}}, {9, {'w', 'x', 'y', 'z'}}, {3, {}}});
  Bytes expected = cat({kMagic, le32(5), {'a', 'b', 'c', 'd', 'e', 0, 0, 0},   // padded to 4
                        kMagic, le32(4), {'w', 'x', 'y', 'z'},                 // no padding
                        kMagic, le32(0)});                                     // empty record
  CHECK(rfcf_test::slurp(rec) == expected);
  CHECK(slurp_text(tmp.file("a.idx")) == "7\t0\n9\t16\n3\t28\n");
  CHECK(tmp.count() == 2);
}

TEST_CASE("RecordIO splits payloads at aligned magic only", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  std::string rec = tmp.file("s.rec");
  Bytes aligned = cat({{1, 2, 3, 4}, kMagic, {5, 6}});
  Bytes unaligned = cat({{1, 2}, kMagic, {5, 6}});
  Bytes leading = cat({kMagic, {9}});
  Bytes twice = cat({kMagic, kMagic});
  write_records(rec, {{0, aligned}, {1, unaligned}, {2, leading}, {3, twice}});
  Bytes expected = cat({
      kMagic, le32((1u << 29) | 4), {1, 2, 3, 4}, kMagic, le32((3u << 29) | 2), {5, 6, 0, 0},  // split
      kMagic, le32(8), unaligned,                                                            // whole
      kMagic, le32((1u << 29) | 0), kMagic, le32((3u << 29) | 1), {9, 0, 0, 0},                // magic first
      kMagic, le32(1u << 29), kMagic, le32(2u << 29), kMagic, le32(3u << 29),                 // 1, 2, 3
  });
  CHECK(rfcf_test::slurp(rec) == expected);
  RecordReader r(rec);
  CHECK(r.read(0) == aligned);
  CHECK(r.read(1) == unaligned);
  CHECK(r.read(2) == leading);
  CHECK(r.read(3) == twice);
}

TEST_CASE("RecordIO round-trips random payloads bit-exactly", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  std::string rec = tmp.file("r.rec");
  std::mt19937 rng(3);
  std::vector<std::pair<int64_t, Bytes>> records;
  for (int i = 0; i < 60; ++i) {
    Bytes p(rng() % 70);
    for (auto& b : p) b = uint8_t(rng());
    for (int m = 0; m < int(rng() % 4) && p.size() >= 4; ++m) {  // plant magics, aligned or not
      size_t at = rng() % (p.size() - 3);
      std::copy(kMagic.begin(), kMagic.end(), p.begin() + std::ptrdiff_t(at));
    }
    records.push_back({int64_t(1000 - 3 * i), p});
  }
  write_records(rec, records);
  RecordReader r(rec);
  REQUIRE(r.size() == records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(r.keys()[i] == records[i].first);
    CHECK(r.read(records[i].first) == records[i].second);
  }
  // Without the index the file is scanned and records are keyed 0, 1, 2, ...
  std::filesystem::remove(tmp.file("r.idx"));
  RecordReader scanned(rec);
  REQUIRE(scanned.size() == records.size());
  CHECK(scanned.read(5) == records[5].second);
  CHECK(scanned.offsets() == r.offsets());
}

TEST_CASE("Image records: IRHeader and label arrays", "[io][recordio]") {
  Bytes jpeg = {0xFF, 0xD8, 0xFF, 0x11};
  Bytes scalar = pack_image_record({}, 42.f, jpeg, 5, 6);
  REQUIRE(scalar.size() == 24 + 4);
  CHECK(Bytes(scalar.begin(), scalar.begin() + 4) == le32(0));
  ImageRecord a = parse_image_record(scalar);
  CHECK(a.header.flag == 0);
  CHECK(a.header.label == 42.f);
  CHECK(a.header.id == 5);
  CHECK(a.header.id2 == 6);
  CHECK(a.label() == 42);
  CHECK(a.image == jpeg);
  const float labels[2] = {17.f, 1.f};
  Bytes arr = pack_image_record(labels, 99.f, jpeg);
  ImageRecord b = parse_image_record(arr);
  CHECK(b.header.flag == 2);
  CHECK(b.header.label == 0.f);  // scalar field is 0 when labels follow
  CHECK(b.labels == std::vector<float>{17.f, 1.f});
  CHECK(b.label() == 17);
  CHECK(b.image == jpeg);
  Bytes short_rec(20);
  CHECK_THROWS_AS(parse_image_record(short_rec), FormatError);
  Bytes lying = pack_image_record({}, 1.f, {});
  lying[0] = 9;  // claims 9 labels, holds none
  CHECK_THROWS_AS(parse_image_record(lying), FormatError);
}

TEST_CASE("insightface layout: header0, images, identity records", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  std::string rec = tmp.file("train.rec");
  Image img(6, 4, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7);
  Bytes png = encode_png(img);
  std::vector<int64_t> classes = {0, 0, 0, 1, 2, 2};
  {
    InsightFaceRecordWriter w(rec);
    for (int64_t c : classes) w.add(c, png);
    w.close();
  }
  ImageRecordFile f(rec);
  REQUIRE(f.has_header0());
  CHECK(f.image_keys() == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
  REQUIRE(f.num_identities() == 3);
  ImageRecord h0 = f.read(0);
  CHECK(h0.header.flag == 2);
  CHECK(h0.labels == std::vector<float>{7.f, 10.f});  // A = N + 1, B = N + 1 + K
  CHECK(h0.image.empty());
  CHECK(f.identity(0).first == 1);
  CHECK(f.identity(0).end == 4);
  CHECK(f.identity(1).first == 4);
  CHECK(f.identity(1).end == 5);
  CHECK(f.identity(2).first == 5);
  CHECK(f.identity(2).end == 7);
  CHECK_THROWS_AS(f.identity(3), FormatError);
  for (size_t i = 0; i < classes.size(); ++i) CHECK(f.read(f.image_keys()[i]).label() == classes[i]);
  CHECK(f.read_image(4).pixels == img.pixels);
  CHECK(f.records().size() == 1 + 6 + 3);

  // Shuffled/im2rec style: no header0, scalar labels -> every key is an image.
  std::string flat = tmp.file("flat.rec");
  {
    RecordWriter w(flat);
    for (int k = 0; k < 3; ++k) w.write(k, pack_image_record({}, float(k % 2), png));
    w.close();
  }
  ImageRecordFile g(flat);
  CHECK_FALSE(g.has_header0());
  CHECK(g.image_keys() == std::vector<int64_t>{0, 1, 2});
  CHECK(g.read(1).label() == 1);

  InsightFaceRecordWriter bad(tmp.file("bad.rec"));
  CHECK_THROWS_AS(bad.add(1, png), ConfigError);  // classes must start at 0 and be grouped
}

TEST_CASE("RecordIO readers reject corrupt files with bounds checks", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  std::string rec = tmp.file("c.rec");
  Bytes payload = cat({{1, 2, 3, 4}, kMagic, {5, 6, 7, 8, 9}});
  write_records(rec, {{0, payload}, {1, {1, 2, 3}}});
  Bytes good = rfcf_test::slurp(rec);
  auto expect_format_error = [&](const Bytes& rec_bytes, const std::string& idx_text, int64_t key) {
    rfcf_test::spit(rec, rec_bytes);
    rfcf_test::spit(tmp.file("c.idx"), Bytes(idx_text.begin(), idx_text.end()));
    CHECK_THROWS_AS(RecordReader(rec).read(key), FormatError);
  };
  std::string idx = slurp_text(tmp.file("c.idx"));
  // Truncated inside the second part of record 0 and inside record 1.
  expect_format_error(Bytes(good.begin(), good.begin() + 22), "0\t0\n", 0);
  expect_format_error(Bytes(good.begin(), good.end() - 2), idx, 1);
  // Bad magic.
  Bytes b = good;
  b[0] ^= 1;
  expect_format_error(b, idx, 0);
  // Length field larger than the file.
  b = good;
  b[6] = 0x7F;
  expect_format_error(b, idx, 0);
  // A record that starts with a continuation flag (2), and a split record that ends early.
  b = good;
  b[7] = 0x40;
  expect_format_error(b, idx, 0);
  b = good;
  b[12 + 7] = 0x20;  // second part (header at byte 12) flagged "first" again
  expect_format_error(b, idx, 0);
  // Bad index files: offset past the end, junk, duplicate keys.
  rfcf_test::spit(rec, good);
  for (std::string bad_idx : {"0\t9999\n", "zero\t0\n", "0\t0\n0\t28\n", "0\t-4\n", "0 0x\n"}) {
    rfcf_test::spit(tmp.file("c.idx"), Bytes(bad_idx.begin(), bad_idx.end()));
    CHECK_THROWS_AS(RecordReader(rec), FormatError);
  }
  // An offset that points into the middle of a record.
  rfcf_test::spit(tmp.file("c.idx"), Bytes{'0', '\t', '4', '\n'});
  CHECK_THROWS_AS(RecordReader(rec).read(0), FormatError);
  CHECK_THROWS_AS(RecordReader(tmp.file("missing.rec")), IoError);
  // Inputs found by tests/fuzz/fuzz_recordio (byte 0 = .idx length, the .idx text, the .rec):
  // they must read or throw rfcf::Error, nothing else.
  for (const auto& e : std::filesystem::directory_iterator(rfcf_test::io_fixture("fuzz_regressions"))) {
    if (e.path().extension() != ".fuzz") continue;
    Bytes in = rfcf_test::slurp(e.path().string());
    REQUIRE(!in.empty());
    size_t n = std::min<size_t>(in[0], in.size() - 1);
    rfcf_test::spit(tmp.file("c.idx"), Bytes(in.begin() + 1, in.begin() + 1 + std::ptrdiff_t(n)));
    rfcf_test::spit(rec, Bytes(in.begin() + 1 + std::ptrdiff_t(n), in.end()));
    INFO(e.path());
    try {
      ImageRecordFile f(rec);
      for (int64_t k : f.image_keys()) (void)f.read(k);
    } catch (const rfcf::Error&) {
    }
  }
}

TEST_CASE("RecordWriter leaves no files when not closed", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  {
    RecordWriter w(tmp.file("x.rec"));
    w.write(0, Bytes{1, 2, 3});
  }
  CHECK(tmp.count() == 0);
}

TEST_CASE("ImageFolder: sorted classes, sorted images, labels by class position", "[io][recordio]") {
  rfcf_test::TempDir tmp;
  namespace fs = std::filesystem;
  for (const char* d : {"zeta", "Alpha", "beta", "beta/nested"}) fs::create_directories(tmp.path / d);
  for (const char* f : {"zeta/b.jpg", "zeta/a.PNG", "Alpha/x.jpeg", "beta/2.jpg", "beta/10.jpg", "beta/notes.txt",
                        "beta/nested/deep.jpg", "top.jpg"})
    rfcf_test::spit(tmp.file(f), Bytes{1});
  ImageFolder folder(tmp.path.string());
  CHECK(folder.classes() == std::vector<std::string>{"Alpha", "beta", "zeta"});
  REQUIRE(folder.size() == 5);
  std::vector<std::string> names;
  std::vector<int64_t> labels;
  for (const auto& e : folder.entries()) {
    names.push_back(fs::path(e.path).filename().string());
    labels.push_back(e.label);
  }
  CHECK(names == std::vector<std::string>{"x.jpeg", "10.jpg", "2.jpg", "a.PNG", "b.jpg"});
  CHECK(labels == std::vector<int64_t>{0, 1, 1, 2, 2});
  CHECK_THROWS_AS(ImageFolder(tmp.file("top.jpg")), IoError);
}
