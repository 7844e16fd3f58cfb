#pragma once
// Dataset preparation (the rfcf-prepare program): a folder of raw photos with one sub-folder per
// identity -> RetinaFace detection -> 5-point alignment (112x112 ArcFace or 112x96 SphereFace
// template) -> an aligned ImageFolder or an insightface RecordIO (.rec + .idx), plus a CSV report
// of every input image (no face, several faces, unreadable) and the identity list.
//   auto summary = recognition::prepare_dataset("raw/", "aligned/", "retinaface_mnet025.pth");
// Images are processed in parallel (one detector per thread) and written in input order, so
// the output does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "rfcf/core/error.hpp"
#include "rfcf/core/parallel.hpp"
#include "rfcf/detection/detector.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/image_folder.hpp"
#include "rfcf/io/recordio.hpp"
#include "rfcf/recognition/alignment.hpp"

namespace rfcf::recognition {

enum class PrepareFormat { folder, recordio };
// What to do with an image that shows several faces.
enum class SeveralFaces { skip, largest, central };
enum class PrepareStatus { ok, no_face, several_faces_skipped, several_faces_kept, unreadable };

inline const char* to_string(PrepareStatus s) {
  switch (s) {
    case PrepareStatus::ok: return "ok";
    case PrepareStatus::no_face: return "no_face";
    case PrepareStatus::several_faces_skipped: return "several_faces_skipped";
    case PrepareStatus::several_faces_kept: return "several_faces_kept";
    case PrepareStatus::unreadable: return "unreadable";
  }
  return "?";
}

inline PrepareFormat parse_prepare_format(const std::string& s) {
  if (s == "folder") return PrepareFormat::folder;
  if (s == "recordio") return PrepareFormat::recordio;
  fail<ConfigError>("prepare: unknown output format '", s, "' (use folder or recordio)");
}

inline SeveralFaces parse_several_faces(const std::string& s) {
  if (s == "skip") return SeveralFaces::skip;
  if (s == "largest") return SeveralFaces::largest;
  if (s == "central") return SeveralFaces::central;
  fail<ConfigError>("prepare: unknown several-faces policy '", s, "' (use skip, largest or central)");
}

struct PrepareOptions {
  PrepareFormat format = PrepareFormat::folder;
  bool narrow = false;  // 112 high x 96 wide SphereFace crop instead of the 112x112 ArcFace crop
  SeveralFaces several_faces = SeveralFaces::skip;
  float min_score = 0.5f;      // detections below this score are not counted as faces
  float min_face_size = 0.f;   // nor those whose box has a shorter side (pixels)
  std::string encoding = "jpg";  // jpg | png: how aligned crops are stored (files or records)
  int jpeg_quality = 95;
  int threads = 0;  // images processed at once (one detector each); 0: OpenMP default
  // CSV report; "" = <output>/prepare_report.csv (folder) or <base>.report.csv (recordio).
  std::string report_path;
  // Called after each batch of images with (images done, images in total).
  std::function<void(int64_t, int64_t)> on_progress;
};

// One input image and what became of it.
struct PrepareRecord {
  std::string path;      // input image
  std::string identity;  // its identity folder
  int64_t label = -1;    // output label (index in PrepareSummary::identities), -1 if not written
  PrepareStatus status = PrepareStatus::no_face;
  int faces = 0;         // faces counted (score and size filters applied)
  bool has_face = false;
  detection::Detection face{};  // the face that was aligned (or the best one of a skipped image)
  std::string output;    // written file, or "<rec>#<key>" for RecordIO
  std::string message;   // error text of unreadable images
};

struct PrepareSummary {
  int64_t images = 0, written = 0, no_face = 0, several_faces_skipped = 0, several_faces_kept = 0,
          unreadable = 0;
  int64_t input_identities = 0;
  std::vector<std::string> identities;  // output label i = identities[i] (identities with >= 1 face)
  std::vector<PrepareRecord> records;   // every input image, in input order
  std::string report_path, identities_path, rec_path, idx_path;
};

// Paths of the files a RecordIO output "<base>.rec" consists of.
struct RecordIOOutputPaths {
  std::string rec, idx, identities, report;
};
inline RecordIOOutputPaths recordio_output_paths(const std::string& rec_path) {
  check<ConfigError>(rec_path.size() > 4 && rec_path.compare(rec_path.size() - 4, 4, ".rec") == 0,
                     "prepare: RecordIO output '", rec_path, "' must end with .rec");
  const std::string base = rec_path.substr(0, rec_path.size() - 4);
  return {rec_path, base + ".idx", base + ".identities.txt", base + ".report.csv"};
}

struct FaceChoice {
  PrepareStatus status = PrepareStatus::no_face;
  int faces = 0;    // faces that pass the filters
  int index = -1;   // index in the detection list of the face to align (or, when skipped, the best one)
};

// Which detection to align: none (no face), the only face, or with several faces the policy's
// choice (largest box area, or box centre nearest the image centre; ties: the earlier detection,
// i.e. the higher score) or none (skip).
inline FaceChoice choose_face(const std::vector<detection::Detection>& dets, int width, int height,
                              const PrepareOptions& o) {
  FaceChoice c;
  std::vector<int> faces;
  for (size_t i = 0; i < dets.size(); ++i) {
    const auto& b = dets[i].box;
    if (dets[i].score >= o.min_score && std::min(b[2] - b[0], b[3] - b[1]) >= o.min_face_size)
      faces.push_back(static_cast<int>(i));
  }
  c.faces = static_cast<int>(faces.size());
  if (faces.empty()) return c;
  if (faces.size() == 1) {
    c.status = PrepareStatus::ok;
    c.index = faces[0];
    return c;
  }
  auto cost = [&](int i) {
    const auto& b = dets[static_cast<size_t>(i)].box;
    if (o.several_faces == SeveralFaces::central) {
      const double dx = 0.5 * (b[0] + b[2]) - 0.5 * width, dy = 0.5 * (b[1] + b[3]) - 0.5 * height;
      return dx * dx + dy * dy;
    }
    return -double(b[2] - b[0]) * double(b[3] - b[1]);  // largest area first
  };
  c.index = faces[0];
  for (int i : faces)
    if (cost(i) < cost(c.index)) c.index = i;
  if (o.several_faces == SeveralFaces::skip) {
    c.status = PrepareStatus::several_faces_skipped;
    c.index = faces[0];  // reported only
  } else {
    c.status = PrepareStatus::several_faces_kept;
  }
  return c;
}

// The aligned crop of one detection, in the colour order of `img`.
inline io::Image aligned_face_image(const io::Image& img, const detection::Detection& face, bool narrow) {
  io::Image crop(narrow ? 96 : 112, 112, img.channels, img.order);
  crop.pixels = narrow ? align_face_112x96(img.data(), img.height, img.width, img.channels, face.landmarks)
                       : align_face(img.data(), img.height, img.width, img.channels, face.landmarks);
  return crop;
}

namespace prepare_detail {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

inline std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

inline std::string report_csv(const std::vector<PrepareRecord>& records) {
  std::string s = "path,identity,label,status,faces,score,x1,y1,x2,y2,output,message\n";
  for (const auto& r : records) {
    s += csv_field(r.path) + "," + csv_field(r.identity) + "," + std::to_string(r.label) + "," + to_string(r.status) +
         "," + std::to_string(r.faces) + ",";
    if (r.has_face) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4f", r.face.score);
      s += std::string(buf) + "," + number(r.face.box[0]) + "," + number(r.face.box[1]) + "," +
           number(r.face.box[2]) + "," + number(r.face.box[3]);
    } else {
      s += ",,,,";
    }
    s += "," + csv_field(r.output) + "," + csv_field(r.message) + "\n";
  }
  return s;
}

// Output file names inside an identity folder: the input stem plus the new extension; inputs
// whose stems collide (a.jpg, a.png) keep their old extension in the name (a_jpg.jpg).
inline std::vector<std::string> output_names(const std::vector<io::ImageFolderEntry>& entries, const std::string& ext) {
  namespace fs = std::filesystem;
  std::map<std::pair<int64_t, std::string>, int> count;
  for (const auto& e : entries) ++count[{e.label, fs::path(e.path).stem().string()}];
  std::vector<std::string> names;
  for (const auto& e : entries) {
    const fs::path p(e.path);
    std::string stem = p.stem().string();
    if (count[{e.label, stem}] > 1) {
      std::string old = p.extension().string();
      if (!old.empty()) stem += "_" + old.substr(1);
    }
    names.push_back(stem + "." + ext);
  }
  return names;
}

struct WorkItem {
  PrepareRecord record;
  std::vector<uint8_t> encoded;  // the aligned crop, encoded (empty when nothing is written)
};

}  // namespace prepare_detail

// Prepares `input_dir` (sub-folder per identity, JPEG/PNG) into `output`: a folder (format
// folder) or "<base>.rec" (format recordio, which also writes <base>.idx, <base>.identities.txt
// and the report). `make_detector()` returns a std::unique_ptr to a detector (anything with
// detect(const io::Image&) -> std::vector<detection::Detection>, fed BGR images); it is called
// once per thread, before the work starts.
template <class MakeDetector>
PrepareSummary prepare_dataset(const std::string& input_dir, const std::string& output, const PrepareOptions& o,
                               MakeDetector&& make_detector) {
  namespace fs = std::filesystem;
  check<ConfigError>(o.encoding == "jpg" || o.encoding == "png", "prepare: encoding must be jpg or png, got '",
                     o.encoding, "'");
  check<ConfigError>(o.jpeg_quality >= 1 && o.jpeg_quality <= 100, "prepare: jpeg quality must be in [1, 100]");
  check<ConfigError>(o.threads >= 0, "prepare: threads must be >= 0");
  check<ConfigError>(!output.empty(), "prepare: no output given");
  const io::ImageFolder folder(input_dir);
  std::error_code ec;
  check<ConfigError>(!fs::exists(output, ec) || !fs::equivalent(input_dir, output, ec),
                     "prepare: output '", output, "' is the input folder");

  PrepareSummary summary;
  summary.input_identities = static_cast<int64_t>(folder.classes().size());
  summary.images = static_cast<int64_t>(folder.size());
  RecordIOOutputPaths rio;
  if (o.format == PrepareFormat::recordio) {
    rio = recordio_output_paths(output);
    const fs::path parent = fs::path(output).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    summary.rec_path = rio.rec;
    summary.idx_path = rio.idx;
    summary.identities_path = rio.identities;
    summary.report_path = o.report_path.empty() ? rio.report : o.report_path;
  } else {
    fs::create_directories(output);
    summary.report_path = o.report_path.empty() ? (fs::path(output) / "prepare_report.csv").string() : o.report_path;
  }

  const int threads = std::max(1, o.threads > 0 ? o.threads : num_threads());
  using DetectorPtr = decltype(make_detector());
  std::vector<DetectorPtr> detectors;
  for (int t = 0; t < threads; ++t) detectors.push_back(make_detector());

  const auto names = prepare_detail::output_names(folder.entries(), o.encoding);
  std::unique_ptr<io::InsightFaceRecordWriter> writer;
  if (o.format == PrepareFormat::recordio) writer = std::make_unique<io::InsightFaceRecordWriter>(rio.rec, rio.idx);

  std::vector<int64_t> label_of_class(folder.classes().size(), -1);
  const int64_t n = summary.images;
  const int64_t chunk = 4 * int64_t(threads);
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t end = std::min(n, begin + chunk);
    std::vector<prepare_detail::WorkItem> items(static_cast<size_t>(end - begin));
    // Each image on its own thread with its own detector; the ops inside run single-threaded
    // (they see omp_in_parallel()). Failures are caught per image: an OpenMP region must not throw.
    auto work = [&](int64_t i, int t) {
      auto& item = items[static_cast<size_t>(i - begin)];
      const auto& entry = folder[static_cast<size_t>(i)];
      item.record.path = entry.path;
      item.record.identity = folder.classes()[static_cast<size_t>(entry.label)];
      io::Image img;
      try {
        img = io::read_image(entry.path, io::ColorOrder::BGR);
      } catch (const std::exception& e) {
        item.record.status = PrepareStatus::unreadable;
        item.record.message = e.what();
        return;
      }
      const auto dets = detectors[static_cast<size_t>(t)]->detect(img);
      const FaceChoice choice = choose_face(dets, img.width, img.height, o);
      item.record.status = choice.status;
      item.record.faces = choice.faces;
      if (choice.index >= 0) {
        item.record.has_face = true;
        item.record.face = dets[static_cast<size_t>(choice.index)];
      }
      if (choice.status == PrepareStatus::ok || choice.status == PrepareStatus::several_faces_kept) {
        const io::Image crop = aligned_face_image(img, item.record.face, o.narrow);
        item.encoded = o.encoding == "png" ? io::encode_png(crop) : io::encode_jpeg(crop, o.jpeg_quality);
      }
    };
    std::vector<std::string> errors(items.size());
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (int64_t i = begin; i < end; ++i) {
      int t = 0;
#if defined(_OPENMP)
      t = omp_get_thread_num();
#endif
      try {
        work(i, t);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(i - begin)] = e.what();
      } catch (...) {
        errors[static_cast<size_t>(i - begin)] = "unknown error";
      }
    }
    for (size_t k = 0; k < items.size(); ++k)
      check<Error>(errors[k].empty(), "prepare: '", items[k].record.path, "': ", errors[k]);

    // Written in input order by this thread: labels and RecordIO keys do not depend on timing.
    for (size_t k = 0; k < items.size(); ++k) {
      auto& item = items[k];
      auto& r = item.record;
      switch (r.status) {
        case PrepareStatus::no_face: ++summary.no_face; break;
        case PrepareStatus::several_faces_skipped: ++summary.several_faces_skipped; break;
        case PrepareStatus::several_faces_kept: ++summary.several_faces_kept; break;
        case PrepareStatus::unreadable: ++summary.unreadable; break;
        case PrepareStatus::ok: break;
      }
      if (!item.encoded.empty()) {
        const int64_t cls = folder[static_cast<size_t>(begin) + k].label;
        int64_t& label = label_of_class[static_cast<size_t>(cls)];
        if (label < 0) {
          label = static_cast<int64_t>(summary.identities.size());
          summary.identities.push_back(r.identity);
          if (o.format == PrepareFormat::folder) fs::create_directories(fs::path(output) / r.identity);
        }
        r.label = label;
        if (o.format == PrepareFormat::folder) {
          r.output = (fs::path(output) / r.identity / names[static_cast<size_t>(begin) + k]).string();
          io::atomic_write(r.output, item.encoded);
        } else {
          writer->add(label, item.encoded);
          r.output = rio.rec + "#" + std::to_string(summary.written + 1);  // image keys start at 1
        }
        ++summary.written;
      }
      summary.records.push_back(std::move(r));
    }
    if (o.on_progress) o.on_progress(end, n);
  }

  if (writer) {
    writer->close();
    std::string list;
    for (const auto& id : summary.identities) list += id + "\n";
    io::atomic_write(summary.identities_path, list);
  }
  io::atomic_write(summary.report_path, prepare_detail::report_csv(summary.records));
  return summary;
}

// The same with RetinaFace detectors of the given type loaded from `detector_weights`.
template <class Detector = detection::Detector<>>
PrepareSummary prepare_dataset(const std::string& input_dir, const std::string& output,
                               const std::string& detector_weights, const PrepareOptions& o = {},
                               const detection::DetectorOptions& detector_options = {}) {
  return prepare_dataset(input_dir, output, o,
                         [&] { return std::make_unique<Detector>(detector_weights, detector_options); });
}

}  // namespace rfcf::recognition
