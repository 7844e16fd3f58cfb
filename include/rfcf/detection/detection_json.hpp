#pragma once
// Detections as JSON:
//   {"image", "width", "height", "faces": [{"box": [x1,y1,x2,y2], "score", "landmarks": [[x,y] x5]}]}
// The reader also accepts the fixture layout of formats.md 9 ("detections", flat landmarks).
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rfcf/core/error.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/io/atomic_file.hpp"

namespace rfcf::detection {

struct ImageDetections {
  std::string image;
  int64_t width = 0, height = 0;
  std::vector<Detection> faces;
};

inline nlohmann::json to_json(const ImageDetections& d) {
  nlohmann::json faces = nlohmann::json::array();
  for (const Detection& f : d.faces) {
    nlohmann::json lm = nlohmann::json::array();
    for (int k = 0; k < 5; ++k) lm.push_back({f.landmarks[2 * k], f.landmarks[2 * k + 1]});
    faces.push_back({{"box", {f.box[0], f.box[1], f.box[2], f.box[3]}}, {"score", f.score}, {"landmarks", lm}});
  }
  return {{"image", d.image}, {"width", d.width}, {"height", d.height}, {"faces", faces}};
}

namespace detail {
inline float json_float(const nlohmann::json& v, const std::string& what) {
  check<FormatError>(v.is_number(), "detection JSON: ", what, " is not a number");
  return v.get<float>();
}
}  // namespace detail

inline ImageDetections detections_from_json(const nlohmann::json& j) {
  check<FormatError>(j.is_object(), "detection JSON: top level is not an object");
  ImageDetections d;
  if (j.contains("image")) d.image = j.at("image").get<std::string>();
  if (j.contains("width")) d.width = j.at("width").get<int64_t>();
  if (j.contains("height")) d.height = j.at("height").get<int64_t>();
  const char* key = j.contains("faces") ? "faces" : "detections";
  check<FormatError>(j.contains(key) && j.at(key).is_array(), "detection JSON: no 'faces' (or 'detections') array");
  for (const auto& f : j.at(key)) {
    Detection det;
    check<FormatError>(f.is_object() && f.contains("box") && f.at("box").is_array() && f.at("box").size() == 4,
                       "detection JSON: a face needs 'box' [x1, y1, x2, y2]");
    for (int k = 0; k < 4; ++k) det.box[k] = detail::json_float(f.at("box")[k], "box value");
    det.score = detail::json_float(f.at("score"), "score");
    if (f.contains("landmarks")) {
      const auto& lm = f.at("landmarks");
      check<FormatError>(lm.is_array() && (lm.size() == 5 || lm.size() == 10),
                         "detection JSON: 'landmarks' must be 5 [x, y] pairs or 10 numbers");
      for (int k = 0; k < 5; ++k) {
        if (lm.size() == 10) {
          det.landmarks[2 * k] = detail::json_float(lm[2 * k], "landmark");
          det.landmarks[2 * k + 1] = detail::json_float(lm[2 * k + 1], "landmark");
        } else {
          check<FormatError>(lm[k].is_array() && lm[k].size() == 2, "detection JSON: landmark ", k, " is not [x, y]");
          det.landmarks[2 * k] = detail::json_float(lm[k][0], "landmark");
          det.landmarks[2 * k + 1] = detail::json_float(lm[k][1], "landmark");
        }
      }
    }
    d.faces.push_back(det);
  }
  return d;
}

inline ImageDetections read_detections_json(const std::string& path) {
  std::ifstream in(path);
  check<IoError>(static_cast<bool>(in), "cannot open detection JSON '", path, "'");
  try {
    return detections_from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>("detection JSON '", path, "': ", e.what());
  } catch (const FormatError& e) {
    fail<FormatError>(e.what(), " (file '", path, "')");
  }
}

// Written atomically (temporary file + rename): a failed write leaves no partial file.
inline void write_detections_json(const std::string& path, const ImageDetections& d, int indent = 1) {
  const std::string text = to_json(d).dump(indent) + "\n";
  io::atomic_write(path, [&](io::FileWriter& w) { w.write(text); });
}

}  // namespace rfcf::detection
