// Dataset preparation (recognition/prepare.hpp): a raw identity folder built from kids.jpg
// (8 faces), a crop of it around one face (and that crop mirrored), grey images (no face) and a
// corrupt file; checks the statuses, the report, the aligned crops against a direct alignment,
// and that the RecordIO output reads back with its labels and identity ranges.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "rfcf/cpu.hpp"
#include "rfcf/io/image_ops.hpp"
#include "rfcf/recognition/prepare.hpp"

using namespace rfcf;
namespace fs = std::filesystem;

namespace {

const std::string kDetector = std::string(RFCF_SHARED_DIR) + "/models/retinaface_mnet025.pth";
const std::string kKids = std::string(RFCF_SHARED_DIR) + "/images/kids.jpg";
// kids_detections.json: the top face and the face with the largest box.
constexpr float kTopBox[4] = {568.5f, 307.4f, 706.2f, 475.6f};
constexpr float kLargestBox[4] = {158.4f, 329.1f, 307.5f, 505.4f};
constexpr int kCropX = 540, kCropY = 290;

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Report rows keyed by "<identity>/<file name>".
std::map<std::string, std::vector<std::string>> report_rows(const std::string& path) {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream in(text_of(path));
  std::string line;
  std::getline(in, line);
  CHECK(line == "path,identity,label,status,faces,score,x1,y1,x2,y2,output,message");
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, ',')) f.push_back(field);
    if (!line.empty() && line.back() == ',') f.push_back("");
    REQUIRE(f.size() >= 11);
    rows[f[1] + "/" + fs::path(f[0]).filename().string()] = f;
  }
  return rows;
}

struct RawFolder {
  fs::path root;
  io::Image face;  // the crop around the top face (BGR)
  RawFolder() {
    root = fs::temp_directory_path() / "rfcf_prepare_test" / "raw";
    fs::remove_all(root.parent_path());
    for (const char* id : {"alice", "bob", "carol"}) fs::create_directories(root / id);
    const io::Image kids = io::read_image(kKids, io::ColorOrder::BGR);
    face = io::crop(kids, kCropX, kCropY, 200, 220);
    io::write_png((root / "alice" / "face.png").string(), face);
    io::write_png((root / "alice" / "grey.png").string(), io::Image(160, 200, 3, io::ColorOrder::BGR, 128));
    io::atomic_write((root / "alice" / "broken.jpg").string(), std::string("\xff\xd8\xff not really a jpeg"));
    io::write_png((root / "bob" / "face_flipped.png").string(), io::flip_horizontal(face));
    const auto bytes = io::read_file_bytes(kKids);
    io::atomic_write((root / "bob" / "group.jpg").string(), bytes);
    io::write_jpeg((root / "carol" / "grey.jpg").string(), io::Image(300, 240, 3, io::ColorOrder::BGR, 90));
  }
};

}  // namespace

TEST_CASE("prepare: choose_face policies and filters") {
  auto det = [](float x1, float y1, float x2, float y2, float score) {
    detection::Detection d;
    d.box[0] = x1, d.box[1] = y1, d.box[2] = x2, d.box[3] = y2, d.score = score;
    return d;
  };
  // 200x100 image: a big face at the left, a small one near the centre, a weak one and a tiny one
  // exactly at the centre.
  const std::vector<detection::Detection> dets = {det(0, 0, 60, 60, 0.99f), det(80, 30, 100, 50, 0.95f),
                                                  det(100, 50, 190, 95, 0.3f), det(98, 48, 102, 52, 0.9f)};
  recognition::PrepareOptions o;
  auto c = recognition::choose_face(dets, 200, 100, o);
  CHECK(c.status == recognition::PrepareStatus::several_faces_skipped);
  CHECK(c.faces == 3);
  o.several_faces = recognition::SeveralFaces::largest;
  c = recognition::choose_face(dets, 200, 100, o);
  CHECK((c.status == recognition::PrepareStatus::several_faces_kept && c.index == 0));
  o.several_faces = recognition::SeveralFaces::central;
  c = recognition::choose_face(dets, 200, 100, o);
  CHECK(c.index == 3);  // the tiny face sits exactly at the centre
  o.min_face_size = 10;
  c = recognition::choose_face(dets, 200, 100, o);
  CHECK((c.faces == 2 && c.index == 1));
  o.min_score = 0.98f;
  c = recognition::choose_face(dets, 200, 100, o);
  CHECK((c.status == recognition::PrepareStatus::ok && c.faces == 1 && c.index == 0));
  CHECK(recognition::choose_face({}, 200, 100, o).status == recognition::PrepareStatus::no_face);
  CHECK_THROWS_AS(recognition::parse_several_faces("biggest"), ConfigError);
  CHECK_THROWS_AS(recognition::parse_prepare_format("lmdb"), ConfigError);
}

TEST_CASE("prepare: raw photos -> aligned ImageFolder and RecordIO with a report") {
  RawFolder raw;
  const fs::path out = raw.root.parent_path();

  SECTION("ImageFolder, skip images with several faces, 2 threads, PNG") {
    recognition::PrepareOptions o;
    o.encoding = "png";
    o.threads = 2;
    int64_t last_done = -1, total = 0;
    o.on_progress = [&](int64_t done, int64_t n) { last_done = done, total = n; };
    const auto s = recognition::prepare_dataset((raw.root).string(), (out / "aligned").string(), kDetector, o);
    CHECK((last_done == 6 && total == 6));
    CHECK(s.images == 6);
    CHECK(s.written == 2);
    CHECK(s.no_face == 2);
    CHECK(s.several_faces_skipped == 1);
    CHECK(s.several_faces_kept == 0);
    CHECK(s.unreadable == 1);
    CHECK(s.input_identities == 3);
    CHECK(s.identities == std::vector<std::string>{"alice", "bob"});  // carol has no face

    const auto rows = report_rows(s.report_path);
    REQUIRE(rows.size() == 6);
    CHECK(rows.at("alice/face.png")[3] == "ok");
    CHECK(rows.at("alice/face.png")[2] == "0");
    CHECK(rows.at("alice/grey.png")[3] == "no_face");
    CHECK(rows.at("alice/broken.jpg")[3] == "unreadable");
    CHECK(!rows.at("alice/broken.jpg").back().empty());  // the decoder's message
    CHECK(rows.at("bob/face_flipped.png")[2] == "1");
    CHECK(rows.at("bob/group.jpg")[3] == "several_faces_skipped");
    CHECK(rows.at("bob/group.jpg")[4] == "8");
    CHECK(rows.at("carol/grey.jpg")[3] == "no_face");

    // The same folder read as a dataset: two identities, one aligned 112x112 crop each.
    io::ImageFolder aligned((out / "aligned").string());
    CHECK(aligned.classes() == std::vector<std::string>{"alice", "bob"});
    REQUIRE(aligned.size() == 2);
    CHECK(fs::path(aligned[0].path).filename() == "face.png");

    // The face found in the crop is the top face of kids.jpg (box shifted by the crop offset),
    // and the written crop equals a direct alignment of those landmarks on the full image with
  // everything outside the crop blacked out (the warp's border is black).
    const auto& rec = s.records[1];  // alice/face.png (alice: broken.jpg, face.png, grey.png)
    REQUIRE(rec.path == (raw.root / "alice" / "face.png").string());
    const float shift[4] = {kCropX, kCropY, kCropX, kCropY};
    for (int k = 0; k < 4; ++k) CHECK(std::abs(rec.face.box[k] + shift[k] - kTopBox[k]) < 4.0f);
    detection::Detection full = rec.face;
    for (int k = 0; k < 5; ++k) full.landmarks[2 * k] += kCropX, full.landmarks[2 * k + 1] += kCropY;
    const io::Image kids = io::read_image(kKids, io::ColorOrder::BGR);
    io::Image masked(kids.width, kids.height, 3, io::ColorOrder::BGR, 0);
    for (int y = 0; y < raw.face.height; ++y)
      std::copy_n(raw.face.row(y), raw.face.row_bytes(), masked.at(kCropX, kCropY + y));
    const io::Image expect = recognition::aligned_face_image(masked, full, false);
    const io::Image got = io::read_image(rec.output, io::ColorOrder::BGR);
    REQUIRE((got.width == 112 && got.height == 112));
    double diff = 0;
    int worst = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) {
      const int d = std::abs(int(got.pixels[i]) - int(expect.pixels[i]));
      diff += d, worst = std::max(worst, d);
    }
    CHECK(worst <= 2);  // the warp's 1/32-pixel coordinate rounding may flip a level
    CHECK(diff / double(got.pixels.size()) < 0.05);
  }

  SECTION("RecordIO, 112x96, largest of several faces, JPEG; reads back with labels") {
    recognition::PrepareOptions o;
    o.format = recognition::PrepareFormat::recordio;
    o.narrow = true;
    o.several_faces = recognition::SeveralFaces::largest;
    o.threads = 1;
    const std::string rec = (out / "rec" / "train.rec").string();
    const auto s = recognition::prepare_dataset(raw.root.string(), rec, kDetector, o);
    CHECK(s.written == 3);
    CHECK(s.several_faces_kept == 1);
    CHECK(s.several_faces_skipped == 0);
    CHECK(text_of(s.identities_path) == "alice\nbob\n");
    CHECK(s.idx_path == (out / "rec" / "train.idx").string());
    const auto rows = report_rows(s.report_path);
    const auto& group = rows.at("bob/group.jpg");
    CHECK(group[3] == "several_faces_kept");
    for (int k = 0; k < 4; ++k) CHECK(std::abs(std::stof(group[6 + k]) - kLargestBox[k]) < 2.0f);
    CHECK(group[10] == rec + "#3");

    io::ImageRecordFile file(rec);
    REQUIRE(file.has_header0());
    REQUIRE(file.size() == 3);
    REQUIRE(file.num_identities() == 2);
    CHECK((file.identity(0).first == 1 && file.identity(0).end == 2));
    CHECK((file.identity(1).first == 2 && file.identity(1).end == 4));
    const int64_t labels[3] = {0, 1, 1};
    for (int64_t k = 1; k <= 3; ++k) {
      CHECK(file.read(k).label() == labels[k - 1]);
      const io::Image img = file.read_image(k);
      CHECK((img.width == 96 && img.height == 112 && img.channels == 3));
    }
    // The mirrored crop holds the same face: its aligned crop is close to the mirrored aligned
    // crop of the original (JPEG and detection noise aside).
    const io::Image a = file.read_image(1), b = io::flip_horizontal(file.read_image(2));
    double diff = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) diff += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    CHECK(diff / double(a.pixels.size()) < 20.0);
  }

  SECTION("bad arguments throw before anything is written") {
    recognition::PrepareOptions o;
    o.format = recognition::PrepareFormat::recordio;
    CHECK_THROWS_AS(recognition::prepare_dataset(raw.root.string(), (out / "x.bin").string(), kDetector, o),
                    ConfigError);
    CHECK(!fs::exists(out / "x.bin"));
    CHECK_THROWS_AS(recognition::prepare_dataset((out / "missing").string(), (out / "y.rec").string(), kDetector, o),
                    IoError);
    CHECK(!fs::exists(out / "y.rec"));
    o.format = recognition::PrepareFormat::folder;
    o.encoding = "bmp";
    CHECK_THROWS_AS(recognition::prepare_dataset(raw.root.string(), (out / "z").string(), kDetector, o), ConfigError);
    CHECK(!fs::exists(out / "z"));
    o.encoding = "jpg";
    CHECK_THROWS_AS(recognition::prepare_dataset(raw.root.string(), raw.root.string(), kDetector, o), ConfigError);
  }
}
