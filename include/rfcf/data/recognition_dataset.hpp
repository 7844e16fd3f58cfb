#pragma once
// Labelled face crops for recognition training, from an ImageFolder (root/<identity>/<image>) or
// an insightface RecordIO file (.rec + .idx; formats.md 4.4). Identities can be filtered (an
// allow-list, a minimum and a maximum number of images); the kept identities are numbered
// 0 .. K-1 in their source order (sorted folder names; RecordIO labels ascending).
//
//   auto ds = data::RecognitionDataset::open("faces/", {.min_images = 5});
//   io::Image img = ds.load(i);  int64_t y = ds.label(i);
// load() is safe to call from several threads.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/image_folder.hpp"
#include "rfcf/io/recordio.hpp"

namespace rfcf::data {

struct IdentityFilter {
  std::vector<std::string> allow;  // identity names to keep (empty: all); unknown names are an error
  int64_t min_images = 1;          // drop identities with fewer images
  int64_t max_images = 0;          // keep at most this many images per identity (the first ones; 0: all)
};

// One identity name per line (blank lines and lines starting with '#' are skipped).
inline std::vector<std::string> read_identity_list(const std::string& path) {
  std::ifstream in(path);
  check<IoError>(in.good(), "identity list '", path, "': cannot open");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    names.push_back(line);
  }
  return names;
}

class RecognitionDataset {
 public:
  struct Sample {
    std::string path;  // image file (ImageFolder) ...
    int64_t key = -1;  // ... or RecordIO key
    int64_t label = 0;
  };

  // An ImageFolder root (one directory per identity).
  static RecognitionDataset image_folder(const std::string& root, const IdentityFilter& filter = {}) {
    io::ImageFolder folder(root);
    std::vector<std::vector<Sample>> per_class(folder.classes().size());
    for (const auto& e : folder.entries())
      per_class[static_cast<size_t>(e.label)].push_back({e.path, -1, e.label});
    RecognitionDataset ds;
    ds.source_ = root;
    ds.build(folder.classes(), std::move(per_class), filter);
    return ds;
  }

  // An insightface RecordIO file. With header0 the identity records give the labels without
  // reading the images; otherwise every record's label is read once.
  static RecognitionDataset recordio(const std::string& rec, const std::string& idx = "", const IdentityFilter& filter = {}) {
    auto file = std::make_shared<io::ImageRecordFile>(rec, idx);
    std::map<int64_t, std::vector<Sample>> by_label;
    if (file->has_header0() && file->num_identities() > 0) {
      for (int64_t i = 0; i < file->num_identities(); ++i) {
        const io::IdentityRange r = file->identity(i);
        for (int64_t k = r.first; k < r.end; ++k) by_label[i].push_back({"", k, i});
      }
    } else {
      for (int64_t k : file->image_keys()) {
        const int64_t y = file->read(k).label();
        check<FormatError>(y >= 0, "RecordIO '", rec, "' key ", k, ": negative label ", y);
        by_label[y].push_back({"", k, y});
      }
    }
    std::vector<std::string> names;
    std::vector<std::vector<Sample>> per_class;
    for (auto& [y, s] : by_label) {
      names.push_back(std::to_string(y));
      per_class.push_back(std::move(s));
    }
    RecognitionDataset ds;
    ds.source_ = rec;
    ds.records_ = std::move(file);
    ds.build(names, std::move(per_class), filter);
    return ds;
  }

  // A directory is an ImageFolder; a file ending in .rec is RecordIO (index: same name .idx).
  static RecognitionDataset open(const std::string& path, const IdentityFilter& filter = {}) {
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".rec") == 0) return recordio(path, "", filter);
    std::error_code ec;
    check<IoError>(std::filesystem::is_directory(path, ec), "recognition data '", path,
                   "' is neither a directory (ImageFolder) nor a .rec file");
    return image_folder(path, filter);
  }

  size_t size() const { return samples_.size(); }
  int64_t num_classes() const { return static_cast<int64_t>(class_names_.size()); }
  // Name of class y: the folder name, or the original RecordIO label as text.
  const std::vector<std::string>& class_names() const { return class_names_; }
  const Sample& sample(size_t i) const { return samples_.at(i); }
  int64_t label(size_t i) const { return samples_.at(i).label; }
  const std::string& source() const { return source_; }
  // "path" or "file.rec key N", for messages.
  std::string describe(size_t i) const {
    const Sample& s = samples_.at(i);
    return records_ ? source_ + " key " + std::to_string(s.key) : s.path;
  }

  // The decoded image as RGB.
  io::Image load(size_t i) const {
    const Sample& s = samples_.at(i);
    io::Image img = records_ ? records_->read_image(s.key, io::ColorOrder::RGB) : io::read_image(s.path, io::ColorOrder::RGB);
    check<FormatError>(img.channels == 3, describe(i), ": decoded image has ", img.channels, " channels, need 3");
    return img;
  }

 private:
  void build(const std::vector<std::string>& names, std::vector<std::vector<Sample>> per_class, const IdentityFilter& f) {
    check<ConfigError>(f.min_images >= 1 && f.max_images >= 0, "IdentityFilter: min_images must be >= 1 and max_images >= 0 (got ",
                       f.min_images, ", ", f.max_images, ")");
    std::set<std::string> allow(f.allow.begin(), f.allow.end());
    for (const auto& a : allow)
      check<ConfigError>(std::find(names.begin(), names.end(), a) != names.end(), "recognition data '", source_,
                         "': identity '", a, "' of the identity list does not exist");
    for (size_t c = 0; c < names.size(); ++c) {
      auto& s = per_class[c];
      if (!allow.empty() && !allow.count(names[c])) continue;
      if (static_cast<int64_t>(s.size()) < f.min_images) continue;
      if (f.max_images > 0 && static_cast<int64_t>(s.size()) > f.max_images) s.resize(static_cast<size_t>(f.max_images));
      const int64_t y = static_cast<int64_t>(class_names_.size());
      class_names_.push_back(names[c]);
      for (auto& x : s) {
        x.label = y;
        samples_.push_back(std::move(x));
      }
    }
    check<ConfigError>(!samples_.empty(), "recognition data '", source_, "': no images left after filtering (min_images ",
                       f.min_images, ", ", f.allow.size(), " listed identities)");
  }

  std::string source_;
  std::shared_ptr<const io::ImageRecordFile> records_;
  std::vector<std::string> class_names_;
  std::vector<Sample> samples_;
};

}  // namespace rfcf::data
