#pragma once
// Loss curves from training CSV logs (train::CsvLogger files): read the columns back and plot
// chosen columns against another one into a PNG (io/plot.hpp). Reading the log instead of
// keeping values in memory makes the curve of a resumed run include the earlier epochs.
//   auto t = train::read_csv_table("run/epochs.csv");
//   train::plot_csv_columns(t, "epoch", {"loss", "loc", "conf", "landm"}, "run/loss_curve.png", {...});
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/image.hpp"
#include "rfcf/io/plot.hpp"

namespace rfcf::train {

struct CsvTable {
  std::vector<std::string> columns;
  std::map<std::string, std::vector<double>> values;  // column -> one value per row (NaN if unparsable)
  size_t rows() const { return values.empty() ? 0 : values.begin()->second.size(); }
  const std::vector<double>& column(const std::string& name) const {
    auto it = values.find(name);
    check<ConfigError>(it != values.end(), "CSV table has no column '", name, "'");
    return it->second;
  }
};

// Reads a header line and numeric rows; rows with the wrong field count (a line cut by a crash)
// are skipped.
inline CsvTable read_csv_table(const std::string& path) {
  std::ifstream in(path);
  check<IoError>(in.good(), "cannot read CSV file '", path, "'");
  CsvTable t;
  auto split = [](const std::string& line) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (!line.empty() && line.back() == ',') f.emplace_back();
    return f;
  };
  std::string line;
  check<FormatError>(static_cast<bool>(std::getline(in, line)), path, ": empty CSV file");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  t.columns = split(line);
  for (const auto& c : t.columns) t.values[c];
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto f = split(line);
    if (f.size() != t.columns.size()) continue;
    for (size_t i = 0; i < f.size(); ++i) {
      char* end = nullptr;
      double v = std::strtod(f[i].c_str(), &end);
      if (f[i].empty() || end != f[i].c_str() + f[i].size()) v = std::numeric_limits<double>::quiet_NaN();
      t.values[t.columns[i]].push_back(v);
    }
  }
  return t;
}

// One series per y column against column x (scaled by x_scale), saved as PNG.
inline void plot_csv_columns(const CsvTable& t, const std::string& x, const std::vector<std::string>& ys,
                             const std::string& png, io::PlotOptions opt = {}, double x_scale = 1.0) {
  std::vector<io::Series> series;
  std::vector<double> xs = t.column(x);
  for (double& v : xs) v *= x_scale;
  for (const auto& y : ys) series.push_back({y, xs, t.column(y), std::nullopt});
  io::write_png(png, io::plot_lines(series, opt));
}

}  // namespace rfcf::train
