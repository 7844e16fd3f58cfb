#pragma once
// LFW pairs.txt (official view 2; formats.md 7, recognition.md 10.1): header "<folds>\t<n>", then
// per fold n "same" lines (name, n1, n2) followed by n "different" lines (name1, n1, name2, n2).
#include <cstdint>
#include <fstream>
#include <istream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::recognition {

struct LfwPair {
  std::string name1;
  int n1 = 0;
  std::string name2;
  int n2 = 0;
  bool same = false;
  int fold = 0;
  // "<name>/<name>_<n as 4 digits>.jpg", relative to the image root.
  static std::string image_path(const std::string& name, int n) {
    std::string num = std::to_string(n);
    if (num.size() < 4) num.insert(0, 4 - num.size(), '0');
    return name + "/" + name + "_" + num + ".jpg";
  }
  std::string path1() const { return image_path(name1, n1); }
  std::string path2() const { return image_path(name2, n2); }
};

struct LfwPairs {
  int folds = 0;
  int pairs_per_class = 0;  // per fold: this many same pairs, then as many different pairs
  std::vector<LfwPair> pairs;

  // Image paths referenced by the pairs, each once, sorted.
  std::vector<std::string> distinct_images() const {
    std::set<std::string> s;
    for (const auto& p : pairs) {
      s.insert(p.path1());
      s.insert(p.path2());
    }
    return {s.begin(), s.end()};
  }
  std::vector<uint8_t> same_flags() const {
    std::vector<uint8_t> v;
    v.reserve(pairs.size());
    for (const auto& p : pairs) v.push_back(p.same ? 1 : 0);
    return v;
  }
};

namespace detail {

inline std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return f;
}

inline int parse_positive(const std::string& s, const std::string& where) {
  check<FormatError>(!s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos, where,
                     ": expected a positive integer, got '", s, "'");
  const int v = std::stoi(s);
  check<FormatError>(v > 0, where, ": expected a positive integer, got ", v);
  return v;
}

inline const std::string& checked_name(const std::string& s, const std::string& where) {
  check<FormatError>(!s.empty() && s.find_first_of(" /\\") == std::string::npos && s != "." && s != "..", where,
                     ": invalid person name '", s, "'");
  return s;
}

}  // namespace detail

// Parses and validates pairs.txt content; `source` names the input in error messages.
inline LfwPairs parse_lfw_pairs(std::istream& in, const std::string& source = "pairs.txt") {
  LfwPairs out;
  std::string line;
  int64_t line_no = 0;
  auto next_line = [&](bool& ok) {
    ok = static_cast<bool>(std::getline(in, line));
    if (ok) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();  // tolerate CRLF
    }
  };
  bool ok = false;
  next_line(ok);
  check<FormatError>(ok, source, ": empty file");
  auto head = detail::split_tabs(line);
  check<FormatError>(head.size() == 2, source, ":1: header must be '<folds>\\t<pairs per class>', got '", line, "'");
  out.folds = detail::parse_positive(head[0], source + ":1 folds");
  out.pairs_per_class = detail::parse_positive(head[1], source + ":1 pairs per class");
  check<FormatError>(static_cast<int64_t>(out.folds) * out.pairs_per_class <= 10'000'000, source,
                     ":1: implausible header counts ", out.folds, " x ", out.pairs_per_class);
  const int64_t expected = static_cast<int64_t>(out.folds) * 2 * out.pairs_per_class;
  out.pairs.reserve(static_cast<size_t>(expected));
  for (int64_t k = 0; k < expected; ++k) {
    next_line(ok);
    check<FormatError>(ok, source, ": the header announces ", expected, " pairs (", out.folds, " folds x 2 x ",
                       out.pairs_per_class, ") but the file ends after ", k);
    const std::string where = source + ":" + std::to_string(line_no);
    auto f = detail::split_tabs(line);
    LfwPair p;
    p.fold = static_cast<int>(k / (2 * out.pairs_per_class));
    p.same = (k % (2 * out.pairs_per_class)) < out.pairs_per_class;
    if (p.same) {
      check<FormatError>(f.size() == 3, where, ": a 'same' line needs 3 tab-separated fields, got ", f.size(),
                         ": '", line, "'");
      p.name1 = p.name2 = detail::checked_name(f[0], where);
      p.n1 = detail::parse_positive(f[1], where);
      p.n2 = detail::parse_positive(f[2], where);
    } else {
      check<FormatError>(f.size() == 4, where, ": a 'different' line needs 4 tab-separated fields, got ", f.size(),
                         ": '", line, "'");
      p.name1 = detail::checked_name(f[0], where);
      p.n1 = detail::parse_positive(f[1], where);
      p.name2 = detail::checked_name(f[2], where);
      p.n2 = detail::parse_positive(f[3], where);
    }
    out.pairs.push_back(std::move(p));
  }
  while (std::getline(in, line)) {
    ++line_no;
    check<FormatError>(line.empty() || line == "\r", source, ":", line_no, ": unexpected content after the ",
                       expected, " pairs announced by the header: '", line, "'");
  }
  return out;
}

inline LfwPairs read_lfw_pairs(const std::string& path) {
  std::ifstream in(path);
  check<IoError>(in.good(), "cannot open LFW pairs file ", path);
  return parse_lfw_pairs(in, path);
}

}  // namespace rfcf::recognition
