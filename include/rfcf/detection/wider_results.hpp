#pragma once
// WIDER FACE result files as written by the reference test script (retinaface.md 9.3):
// <dir>/<event>/<stem>.txt with the stem, the box count, then "x y w h score " lines, where
// x = int(x1), w = int(x2) - int(x1) (truncation toward zero) and score is numpy's str() of the
// float32 score.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/detection/postprocess.hpp"
#include "rfcf/detection/python_format.hpp"
#include "rfcf/io/atomic_file.hpp"

namespace rfcf::detection {

// The text of one result file.
inline std::string wider_result_text(const std::string& stem, const std::vector<Detection>& dets) {
  std::string s = stem + "\n" + std::to_string(dets.size()) + "\n";
  auto trunc = [](float v) {
    check<Error>(std::isfinite(v) && std::fabs(v) < 9.0e18f, "WIDER result: box coordinate ", v, " is not finite");
    return static_cast<long long>(v);  // C++ float->integer conversion truncates toward zero, as int()
  };
  for (const Detection& d : dets) {
    const long long x = trunc(d.box[0]), y = trunc(d.box[1]);
    const long long w = trunc(d.box[2]) - x, h = trunc(d.box[3]) - y;
    s += std::to_string(x) + " " + std::to_string(y) + " " + std::to_string(w) + " " + std::to_string(h) + " " +
         numpy_float32_str(d.score) + " \n";
  }
  return s;
}

// Writes <dir>/<event>/<stem>.txt (creating folders); returns the path.
inline std::string write_wider_result(const std::string& dir, const std::string& event, const std::string& stem,
                                      const std::vector<Detection>& dets) {
  namespace fs = std::filesystem;
  check<ConfigError>(!stem.empty() && stem.find('/') == std::string::npos && event.find("..") == std::string::npos,
                     "WIDER result: bad event/stem '", event, "/", stem, "'");
  const fs::path folder = fs::path(dir) / event;
  std::error_code ec;
  fs::create_directories(folder, ec);
  check<IoError>(!ec, "cannot create folder '", folder.string(), "': ", ec.message());
  const std::string text = wider_result_text(stem, dets);
  const fs::path path = folder / (stem + ".txt");
  io::atomic_write(path.string(), [&](io::FileWriter& w) { w.write(text); });
  return path.string();
}

}  // namespace rfcf::detection
