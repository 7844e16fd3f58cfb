#pragma once
// Image folders: root/<class_dir>/<image>. The class index of a directory is its position
// in the sorted list of class directories; the images of a class are taken in sorted order
// (byte-wise name order, which is Python's sorted() order for UTF-8 names).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::io {

struct ImageFolderEntry {
  std::string path;  // full path of the image file
  int64_t label = 0;  // class index
};

class ImageFolder {
 public:
  // Only files whose extension (case-insensitive) is in `extensions` are listed; files
  // directly in root and nested sub-directories of class directories are ignored.
  explicit ImageFolder(const std::string& root,
                       std::vector<std::string> extensions = {".jpg", ".jpeg", ".png"})
      : root_(root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    check<IoError>(fs::is_directory(root, ec), "ImageFolder: '", root, "' is not a directory");
    for (auto& ext : extensions) ext = lower(ext);
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory()) classes_.push_back(e.path().filename().string());
    check<IoError>(!ec, "ImageFolder: cannot list '", root, "': ", ec.message());
    std::sort(classes_.begin(), classes_.end());
    for (size_t c = 0; c < classes_.size(); ++c) {
      std::vector<std::string> names;
      fs::path dir = fs::path(root) / classes_[c];
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file()) continue;
        std::string ext = lower(e.path().extension().string());
        if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
          names.push_back(e.path().filename().string());
      }
      check<IoError>(!ec, "ImageFolder: cannot list '", dir.string(), "': ", ec.message());
      std::sort(names.begin(), names.end());
      for (const auto& n : names) entries_.push_back({(dir / n).string(), static_cast<int64_t>(c)});
    }
  }

  const std::string& root() const { return root_; }
  // Class directory names; the label of classes()[i] is i.
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<ImageFolderEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  const ImageFolderEntry& operator[](size_t i) const { return entries_.at(i); }

 private:
  static std::string lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<ImageFolderEntry> entries_;
};

}  // namespace rfcf::io
