// WIDER label.txt parsing (train and val formats), error reporting, missing files, empty images,
// and the .mat -> label.txt converter on shared/widerface/ground_truth/wider_face_val.mat.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "rfcf/data/wider_labels.hpp"

using namespace rfcf;
using namespace rfcf::data;
namespace fs = std::filesystem;

namespace {
WiderLabelSet parse(const std::string& text, bool keep_empty = false) {
  std::istringstream in(text);
  return parse_wider_labels(in, "label.txt", "root", keep_empty);
}
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("WIDER train label lines become [box, landmarks, label] rows", "[data][wider]") {
  const WiderLabelSet s = parse(
      "# 0--Parade/a.jpg\n"
      "449 330 122 149 488.906 373.643 0.0 542.089 376.442 0.0 515.031 412.83 0.0 485.174 425.893 0.0 "
      "538.357 431.491 0.0 0.82\n"
      "10 20 30 40 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0 -1.0\n"
      "# 0--Parade/empty.jpg\n"
      "# 1--Handshaking/b.jpg\r\n"
      "5 6 7 8\n");
  REQUIRE(s.images.size() == 2);
  CHECK(s.skipped_empty == 1);
  CHECK(s.faces == 3);
  CHECK(s.faces_without_landmarks == 2);
  CHECK(s.images[0].relative == "0--Parade/a.jpg");
  CHECK(s.images[0].path == (fs::path("root") / "0--Parade/a.jpg").string());
  const float* f = s.images[0].faces[0].values;
  CHECK(f[0] == 449.0f);
  CHECK(f[1] == 330.0f);
  CHECK(f[2] == 571.0f);  // x + w, no -1
  CHECK(f[3] == 479.0f);
  CHECK(f[4] == 488.906f);
  CHECK(f[5] == 373.643f);
  CHECK(f[6] == 542.089f);  // field 7: the flag (field 6) is skipped
  CHECK(f[12] == 538.357f);
  CHECK(f[13] == 431.491f);
  CHECK(f[14] == 1.0f);
  const float* g = s.images[0].faces[1].values;
  CHECK(g[14] == -1.0f);
  for (int k = 4; k < 14; ++k) CHECK(g[k] == -1.0f);
  const float* h = s.images[1].faces[0].values;
  CHECK(h[2] == 12.0f);
  CHECK(h[3] == 14.0f);
  CHECK(h[14] == -1.0f);
  CHECK(s.images[1].relative == "1--Handshaking/b.jpg");
  CHECK(parse("# a.jpg\n", true).images.size() == 1);
}

TEST_CASE("WIDER label errors name the file and line", "[data][wider]") {
  CHECK(error_of("# a.jpg\n1 2 3\n").find("label.txt:2") != std::string::npos);
  CHECK(error_of("# a.jpg\n1 2 3\n").find("4 or 20") != std::string::npos);
  CHECK(error_of("# a.jpg\n\n1 2 x 4\n").find("label.txt:3: 'x'") != std::string::npos);
  CHECK(error_of("1 2 3 4\n").find("label.txt:1") != std::string::npos);
  CHECK(error_of("#a.jpg\n").find("label.txt:1") != std::string::npos);
  CHECK(parse("# a.jpg\n1 2 -3 4\n").degenerate_faces == 1);
  CHECK(error_of("# a.jpg\n1 2 nan 4\n").find("label.txt:2") != std::string::npos);
}

TEST_CASE("WIDER .mat converts to a boxes-only label.txt; missing images are errors", "[data][wider]") {
  const std::string shared = RFCF_SHARED_DIR;
  const std::string mat = shared + "/widerface/ground_truth/wider_face_val.mat";
  if (!fs::exists(mat)) {
    WARN("skipped: " << mat << " not found");
    return;
  }
  const fs::path dir = fs::temp_directory_path() / "rfcf_wider_labels_test";
  fs::create_directories(dir);
  const std::string label = (dir / "label.txt").string();
  wider_mat_to_label(mat, label);

  WiderLabelOptions o;
  o.check_files = false;
  o.keep_empty = true;
  const WiderLabelSet all = read_wider_labels(label, o);
  CHECK(all.images.size() == 3226);  // WIDER val
  CHECK(all.faces == 39708);
  CHECK(all.faces == all.faces_without_landmarks);
  CHECK(all.degenerate_faces > 0);  // e.g. "1026 474 -2 23"
  for (const auto& im : all.images) CHECK(im.relative.find(".jpg") == im.relative.size() - 4);

  // Against the val subset images: the full list is missing files; the subset list opens.
  o.check_files = true;
  o.image_root = shared + "/widerface/val_subset/images";
  try {
    read_wider_labels(label, o);
    FAIL("missing images were not reported");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("image files are missing") != std::string::npos);
  }
  std::ofstream sub((dir / "subset.txt").string());
  int64_t kept = 0;
  for (const auto& im : all.images)
    if (fs::exists(fs::path(o.image_root) / im.relative)) {
      sub << "# " << im.relative << "\n";
      for (const auto& f : im.faces)
        sub << f.values[0] << ' ' << f.values[1] << ' ' << f.values[2] - f.values[0] << ' ' << f.values[3] - f.values[1]
            << "\n";
      ++kept;
    }
  sub.close();
  REQUIRE(kept > 0);
  o.keep_empty = true;
  const WiderLabelSet subset = read_wider_labels((dir / "subset.txt").string(), o);
  CHECK(static_cast<int64_t>(subset.images.size()) == kept);
  fs::remove_all(dir);
}
