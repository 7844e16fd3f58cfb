#pragma once
// Identity-disjoint train/test splits and verification pairs for held-out identities, for
// learning experiments on LFW-style folders (<name>/<name>_<NNNN>.jpg). Everything is a pure
// function of the inputs and the seed.
//
//   auto split = data::split_identities(names, 0.2, seed);           // sorted train / test names
//   auto pairs = data::make_verification_pairs(test_images, 10, 300, seed);
//   data::write_lfw_pairs("test_pairs.txt", pairs);                  // read back with read_lfw_pairs
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/core/random.hpp"
#include "rfcf/data/batch_pipeline.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/recognition/lfw_pairs.hpp"

namespace rfcf::data {

struct IdentitySplit {
  std::vector<std::string> train, test;  // each sorted
};

// round(test_fraction * n) identities (at least 1 and at most n - 1) go to the test side,
// chosen by a shuffle seeded by `seed` of the sorted names.
inline IdentitySplit split_identities(std::vector<std::string> names, double test_fraction, uint64_t seed) {
  check<ConfigError>(test_fraction > 0 && test_fraction < 1, "split_identities: test fraction ", test_fraction,
                     " is not in (0, 1)");
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  check<ConfigError>(names.size() >= 2, "split_identities: need at least 2 identities, got ", names.size());
  Generator g(detail::mix64(seed ^ 0x73706c6974ull));
  for (int64_t i = static_cast<int64_t>(names.size()) - 1; i > 0; --i) std::swap(names[i], names[g.integer(0, i)]);
  const auto n = static_cast<int64_t>(names.size());
  const int64_t n_test = std::clamp<int64_t>(std::llround(test_fraction * static_cast<double>(n)), 1, n - 1);
  IdentitySplit s{{names.begin() + n_test, names.end()}, {names.begin(), names.begin() + n_test}};
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

// The image number of an LFW file name "<name>_<NNNN>.<ext>" (-1 if it does not have that form).
inline int lfw_image_number(const std::string& identity, const std::string& filename) {
  const std::string prefix = identity + "_";
  const auto dot = filename.rfind('.');
  if (filename.compare(0, prefix.size(), prefix) != 0 || dot == std::string::npos || dot <= prefix.size()) return -1;
  const std::string digits = filename.substr(prefix.size(), dot - prefix.size());
  if (digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
  return std::stoi(digits);
}

// `folds` folds of `per_fold` same and `per_fold` different pairs over the identities given as
// name -> image numbers (each needs >= 2 images for same pairs). Same pairs are drawn without
// repetition from all within-identity pairs of at most `max_images_per_identity` images of each
// identity; different pairs join random images of two distinct identities. If fewer distinct
// same pairs exist, per_fold shrinks to what fills every fold equally (error if that is 0).
inline recognition::LfwPairs make_verification_pairs(const std::map<std::string, std::vector<int>>& images, int folds,
                                                     int per_fold, uint64_t seed, int max_images_per_identity = 40) {
  check<ConfigError>(folds >= 1 && per_fold >= 1 && max_images_per_identity >= 2,
                     "make_verification_pairs: folds, per_fold >= 1 and max_images_per_identity >= 2 required");
  check<ConfigError>(images.size() >= 2, "make_verification_pairs: need at least 2 identities, got ", images.size());
  Generator g(detail::mix64(seed ^ 0x7061697273ull));
  auto shuffle = [&](auto& v) {
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(g.integer(0, i))]);
  };
  std::vector<recognition::LfwPair> same;
  for (const auto& [name, nums] : images) {
    std::vector<int> n(nums.begin(), nums.end());
    std::sort(n.begin(), n.end());
    if (static_cast<int>(n.size()) > max_images_per_identity) n.resize(static_cast<size_t>(max_images_per_identity));
    for (size_t i = 0; i < n.size(); ++i)
      for (size_t j = i + 1; j < n.size(); ++j) same.push_back({name, n[i], name, n[j], true, 0});
  }
  shuffle(same);
  per_fold = std::min<int>(per_fold, static_cast<int>(same.size() / static_cast<size_t>(folds)));
  check<ConfigError>(per_fold >= 1, "make_verification_pairs: only ", same.size(), " same pairs for ", folds, " folds");
  std::vector<const std::pair<const std::string, std::vector<int>>*> ids;
  for (const auto& e : images)
    if (!e.second.empty()) ids.push_back(&e);
  check<ConfigError>(ids.size() >= 2, "make_verification_pairs: need 2 identities with images");
  std::set<std::pair<std::pair<std::string, int>, std::pair<std::string, int>>> seen;
  std::vector<recognition::LfwPair> diff;
  const size_t needed = static_cast<size_t>(folds) * static_cast<size_t>(per_fold);
  for (size_t attempts = 0; diff.size() < needed; ++attempts) {
    check<ConfigError>(attempts < 100 * needed + 1000, "make_verification_pairs: cannot draw ", needed, " distinct different pairs");
    size_t a = static_cast<size_t>(g.integer(0, static_cast<int64_t>(ids.size()) - 1));
    size_t b = static_cast<size_t>(g.integer(0, static_cast<int64_t>(ids.size()) - 2));
    if (b >= a) ++b;
    if (ids[b]->first < ids[a]->first) std::swap(a, b);
    const auto& na = ids[a]->second;
    const auto& nb = ids[b]->second;
    const int ia = na[static_cast<size_t>(g.integer(0, static_cast<int64_t>(na.size()) - 1))];
    const int ib = nb[static_cast<size_t>(g.integer(0, static_cast<int64_t>(nb.size()) - 1))];
    if (!seen.insert({{ids[a]->first, ia}, {ids[b]->first, ib}}).second) continue;
    diff.push_back({ids[a]->first, ia, ids[b]->first, ib, false, 0});
  }
  recognition::LfwPairs out;
  out.folds = folds;
  out.pairs_per_class = per_fold;
  for (int k = 0; k < folds; ++k) {
    for (int i = 0; i < per_fold; ++i) {
      auto p = same[static_cast<size_t>(k * per_fold + i)];
      p.fold = k;
      out.pairs.push_back(p);
    }
    for (int i = 0; i < per_fold; ++i) {
      auto p = diff[static_cast<size_t>(k * per_fold + i)];
      p.fold = k;
      out.pairs.push_back(p);
    }
  }
  return out;
}

// pairs.txt format (recognition.md 10.1), written atomically.
inline std::string format_lfw_pairs(const recognition::LfwPairs& p) {
  std::string s = std::to_string(p.folds) + "\t" + std::to_string(p.pairs_per_class) + "\n";
  for (const auto& q : p.pairs) {
    if (q.same) s += q.name1 + "\t" + std::to_string(q.n1) + "\t" + std::to_string(q.n2) + "\n";
    else s += q.name1 + "\t" + std::to_string(q.n1) + "\t" + q.name2 + "\t" + std::to_string(q.n2) + "\n";
  }
  return s;
}
inline void write_lfw_pairs(const std::string& path, const recognition::LfwPairs& p) { io::atomic_write(path, format_lfw_pairs(p)); }

inline void write_identity_list(const std::string& path, const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += n + "\n";
  io::atomic_write(path, s);
}

}  // namespace rfcf::data
