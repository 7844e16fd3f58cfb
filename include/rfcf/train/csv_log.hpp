#pragma once
// CSV metrics log, one row per call, flushed at once so a crash loses at most the row being
// written. The file is opened in append mode: each row is a single write of a complete line,
// so readers (plotting scripts, tail -f) never see half rows. An existing log is never
// truncated unless CsvMode::truncate is asked for; resuming appends to it after checking that
// its header matches the columns of this run.
//   train::CsvLogger log("metrics.csv", {"step", "epoch", "loss", "lr"});
//   log.row({step, epoch, loss, lr});
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::train {

enum class CsvMode {
  append,    // keep existing rows (resume); the header must match
  truncate,  // start a fresh file
};

class CsvLogger {
 public:
  CsvLogger(std::string path, std::vector<std::string> columns, CsvMode mode = CsvMode::append)
      : path_(std::move(path)), columns_(std::move(columns)) {
    check<ConfigError>(!columns_.empty(), "CsvLogger ", path_, ": no columns");
    for (const auto& c : columns_) {
      check<ConfigError>(!c.empty() && c.find_first_of(",\"\n\r") == std::string::npos, "CsvLogger ", path_,
                         ": invalid column name '", c, "'");
    }
    const std::string header = join(columns_);
    bool needs_header = true;
    bool needs_newline = false;
    if (mode == CsvMode::append) {
      std::ifstream in(path_, std::ios::binary);
      if (in.good()) {
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!content.empty()) {
          const std::string existing = content.substr(0, content.find('\n'));
          check<ConfigError>(strip_cr(existing) == header, "CsvLogger: ", path_, " has columns '", existing,
                             "' but this run logs '", header,
                             "'; use another file or CsvMode::truncate to overwrite it");
          needs_header = false;
          needs_newline = content.back() != '\n';  // a row cut by a crash: start on a new line
        }
      }
    }
    file_ = std::fopen(path_.c_str(), mode == CsvMode::truncate ? "w" : "a");
    check<IoError>(file_ != nullptr, "CsvLogger: cannot open ", path_, ": ", std::strerror(errno));
    if (needs_newline) write_line("");
    if (needs_header) write_line(header);
  }
  CsvLogger(const CsvLogger&) = delete;
  CsvLogger& operator=(const CsvLogger&) = delete;
  CsvLogger(CsvLogger&& o) noexcept : path_(std::move(o.path_)), columns_(std::move(o.columns_)), file_(o.file_) {
    o.file_ = nullptr;
  }
  ~CsvLogger() {
    if (file_) std::fclose(file_);
  }

  // One value per column, in column order. Integers print without a decimal point.
  void row(const std::vector<double>& values) {
    check<ConfigError>(values.size() == columns_.size(), "CsvLogger ", path_, ": row has ", values.size(),
                       " values for ", columns_.size(), " columns");
    std::string line;
    char buf[40];
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) line += ',';
      std::snprintf(buf, sizeof buf, "%.10g", values[i]);
      line += buf;
    }
    write_line(line);
  }
  // Named values; every column must be given exactly once.
  void row(const std::vector<std::pair<std::string, double>>& named) {
    std::vector<double> values(columns_.size(), 0.0);
    std::vector<bool> seen(columns_.size(), false);
    for (const auto& [name, v] : named) {
      size_t i = 0;
      while (i < columns_.size() && columns_[i] != name) ++i;
      check<ConfigError>(i < columns_.size(), "CsvLogger ", path_, ": unknown column '", name, "'");
      check<ConfigError>(!seen[i], "CsvLogger ", path_, ": column '", name, "' given twice");
      values[i] = v;
      seen[i] = true;
    }
    for (size_t i = 0; i < columns_.size(); ++i)
      check<ConfigError>(seen[i], "CsvLogger ", path_, ": no value for column '", columns_[i], "'");
    row(values);
  }

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
    return s;
  }
  static std::string strip_cr(std::string s) {
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }
  void write_line(std::string line) {
    line += '\n';
    const bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
    check<IoError>(ok, "CsvLogger: cannot write to ", path_, ": ", std::strerror(errno));
  }

  std::string path_;
  std::vector<std::string> columns_;
  std::FILE* file_ = nullptr;
};

}  // namespace rfcf::train
