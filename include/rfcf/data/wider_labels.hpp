#pragma once
// WIDER FACE `label.txt` (retinaface_gt_v1.1) reader and a .mat -> label.txt converter,
// retinaface.md sections 8.2 and 10; the user format of docs/detector_training.md shares the reader.
//
//   # 0--Parade/0_Parade_marchingband_1_849.jpg     image at <dir of label.txt>/images/<path>
//   449 330 122 149 488.906 373.643 0.0 ... 0.82    train: 20 numbers per face
//   449 330 122 149                                 val / boxes only: 4 numbers per face
//
// Each face becomes [x1, y1, x2, y2, lx0, ly0, ..., lx4, ly4, label] in pixels (x2 = x + w, no -1);
// label = -1 when field 4 < 0 (no landmarks; the 10 landmark values are then -1), else 1.
// Four-number faces have no landmarks (label -1, landmarks -1).
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/mat.hpp"

namespace rfcf::data {

inline constexpr int kFaceValues = 15;

struct FaceAnnotation {
  float values[kFaceValues];  // [x1, y1, x2, y2, lx0, ly0, ..., lx4, ly4, label]
  bool has_landmarks() const { return values[14] > 0; }
};

struct AnnotatedImage {
  std::string path;      // absolute or relative to the working directory
  std::string relative;  // as written after '# '
  std::vector<FaceAnnotation> faces;
};

struct WiderLabelOptions {
  std::string image_root;        // default: <dir of label.txt>/images
  bool check_files = true;       // a missing image file is an error when the list is opened
  bool keep_empty = false;       // images without faces are skipped (and counted) unless set
};

struct WiderLabelSet {
  std::vector<AnnotatedImage> images;
  int64_t faces = 0;
  int64_t faces_without_landmarks = 0;
  int64_t degenerate_faces = 0;  // w <= 0 or h <= 0 (kept, as in the reference; WIDER val has a few)
  int64_t skipped_empty = 0;  // images without faces (the reference pipeline cannot train on them)
};

namespace detail {
inline bool parse_float_token(const std::string& s, float& out) {
  double v = 0;
  const char* b = s.data();
  const char* e = b + s.size();
  if (b != e && *b == '+') ++b;
  auto r = std::from_chars(b, e, v);
  if (r.ec != std::errc() || r.ptr != e || s.empty() || !std::isfinite(v)) return false;
  out = static_cast<float>(v);
  return true;
}
}  // namespace detail

// One face line (4 or 20 numbers) -> annotation; `where` = "file:line" for messages.
inline FaceAnnotation parse_wider_face_line(const std::string& line, const std::string& where) {
  std::vector<float> v;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    float x = 0;
    check<FormatError>(detail::parse_float_token(tok, x), where, ": '", tok, "' is not a finite number");
    v.push_back(x);
  }
  check<FormatError>(v.size() == 4 || v.size() == 20, where, ": a face line needs 4 or 20 numbers, got ", v.size());
  FaceAnnotation f;
  f.values[0] = v[0];
  f.values[1] = v[1];
  f.values[2] = v[0] + v[2];
  f.values[3] = v[1] + v[3];
  const bool landmarks = v.size() == 20 && v[4] >= 0;
  for (int k = 0; k < 5; ++k) {
    f.values[4 + 2 * k] = landmarks ? v[4 + 3 * k] : -1.0f;
    f.values[5 + 2 * k] = landmarks ? v[5 + 3 * k] : -1.0f;
  }
  f.values[14] = landmarks ? 1.0f : -1.0f;
  return f;
}

// Parses label.txt text; `source` names it in messages, `root` is prefixed to image paths.
inline WiderLabelSet parse_wider_labels(std::istream& in, const std::string& source, const std::string& root,
                                        bool keep_empty = false) {
  WiderLabelSet set;
  std::string line;
  int64_t line_no = 0;
  bool open = false;
  auto close = [&] {
    if (!open) return;
    if (set.images.back().faces.empty() && !keep_empty) {
      set.images.pop_back();
      ++set.skipped_empty;
    }
    open = false;
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string where = source + ":" + std::to_string(line_no);
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line[0] == '#') {
      close();
      check<FormatError>(line.size() > 2 && line[1] == ' ', where, ": an image line must read '# <path>'");
      AnnotatedImage im;
      im.relative = line.substr(2);
      im.path = root.empty() ? im.relative : (std::filesystem::path(root) / im.relative).string();
      set.images.push_back(std::move(im));
      open = true;
      continue;
    }
    check<FormatError>(open, where, ": face line before the first '# <path>' line");
    FaceAnnotation f = parse_wider_face_line(line, where);
    set.degenerate_faces += !(f.values[2] > f.values[0] && f.values[3] > f.values[1]);
    set.faces_without_landmarks += !f.has_landmarks();
    ++set.faces;
    set.images.back().faces.push_back(f);
  }
  close();
  return set;
}

// Reads a label.txt file; missing image files are reported (all of them, first few named).
inline WiderLabelSet read_wider_labels(const std::string& label_path, const WiderLabelOptions& o = {}) {
  namespace fs = std::filesystem;
  std::ifstream in(label_path);
  check<IoError>(static_cast<bool>(in), "cannot open label file '", label_path, "'");
  const std::string root =
      o.image_root.empty() ? (fs::path(label_path).parent_path() / "images").string() : o.image_root;
  WiderLabelSet set = parse_wider_labels(in, label_path, root, o.keep_empty);
  if (o.check_files) {
    std::vector<std::string> missing;
    for (const auto& im : set.images)
      if (!fs::is_regular_file(im.path)) missing.push_back(im.path);
    if (!missing.empty()) {
      std::string list;
      for (size_t i = 0; i < missing.size() && i < 5; ++i) list += "\n  " + missing[i];
      fail<IoError>(label_path, ": ", missing.size(), " of ", set.images.size(), " image files are missing:", list,
                    missing.size() > 5 ? "\n  ..." : "");
    }
  }
  return set;
}

// Boxes-only label.txt text from a WIDER .mat ground truth (wider_face_train.mat / wider_face_val.mat:
// event_list, file_list, face_bbx_list). Paths are "<event>/<file>.jpg"; boxes "x y w h".
inline std::string wider_mat_to_label_text(const io::MatFile& mat, const std::string& source = "WIDER .mat") {
  const io::MatArray& events = mat["event_list"];
  const io::MatArray& files = mat["file_list"];
  const io::MatArray& boxes = mat["face_bbx_list"];
  const int64_t n = events.numel();
  check<FormatError>(files.numel() == n && boxes.numel() == n, source,
                     ": event_list/file_list/face_bbx_list sizes differ (", n, ", ", files.numel(), ", ",
                     boxes.numel(), ")");
  std::ostringstream out;
  for (int64_t i = 0; i < n; ++i) {
    const std::string event = events.cell(i).str();
    const io::MatArray& fl = files.cell(i);
    const io::MatArray& bl = boxes.cell(i);
    check<FormatError>(fl.numel() == bl.numel(), source, ": event ", event, " has ", fl.numel(), " files but ",
                       bl.numel(), " box lists");
    for (int64_t j = 0; j < fl.numel(); ++j) {
      out << "# " << event << "/" << fl.cell(j).str() << ".jpg\n";
      const io::MatArray& b = bl.cell(j);
      if (b.is_empty()) continue;
      check<FormatError>(b.is_numeric() && b.cols() == 4, source, ": boxes of ", event, "/", fl.cell(j).str(),
                         " are not n x 4");
      for (int64_t k = 0; k < b.rows(); ++k)
        out << b.at(k, 0) << ' ' << b.at(k, 1) << ' ' << b.at(k, 2) << ' ' << b.at(k, 3) << '\n';
    }
  }
  return out.str();
}

// Converts a .mat file to label.txt (written atomically: no partial file on error).
inline void wider_mat_to_label(const std::string& mat_path, const std::string& label_path) {
  const io::MatFile mat = io::read_mat(mat_path);
  io::atomic_write(label_path, wider_mat_to_label_text(mat, mat_path));
}

}  // namespace rfcf::data
