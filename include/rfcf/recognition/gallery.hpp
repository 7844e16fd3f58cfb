#pragma once
// Gallery<T, D>: 1:N identification. Stores L2-normalised embeddings with an integer id and a
// name on device D; search() ranks them by cosine similarity with one GEMM per query batch.
//
//   recognition::Gallery<float, cpu> g(512);
//   g.add(embeddings, ids, names);            // [n, 512]
//   auto hits = g.search(queries, 5);         // hits[q] = top-5 {index, id, name, score}
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/gemm.hpp"
#include "rfcf/recognition/embeddings.hpp"

namespace rfcf::recognition {

struct GalleryHit {
  int64_t index = -1;  // row in the gallery
  int64_t id = -1;
  std::string name;
  double score = 0;  // cosine similarity
};

template <class T, class D>
class Gallery {
 public:
  explicit Gallery(int64_t dim) : dim_(dim) {
    check<ConfigError>(dim > 0, "Gallery: embedding size must be positive, got ", dim);
  }

  int64_t dim() const { return dim_; }
  int64_t size() const { return static_cast<int64_t>(ids_.size()); }

  // Appends embeddings [n, dim] (normalised here) with their ids and optional names.
  void add(const Tensor<T, D>& embeddings, const std::vector<int64_t>& ids, const std::vector<std::string>& names = {}) {
    check_rank(embeddings, 2, "Gallery::add (embeddings [n, d])");
    check<ShapeError>(embeddings.dim(1) == dim_, "Gallery::add: embeddings ", embeddings.shape().str(),
                      " do not have the gallery's size ", dim_);
    const int64_t n = embeddings.dim(0);
    check<ShapeError>(static_cast<int64_t>(ids.size()) == n, "Gallery::add: ", ids.size(), " ids for ", n,
                      " embeddings");
    check<ShapeError>(names.empty() || static_cast<int64_t>(names.size()) == n, "Gallery::add: ", names.size(),
                      " names for ", n, " embeddings");
    Tensor<T, D> normed = l2_normalize(embeddings);
    Tensor<T, D> all(Shape{size() + n, dim_});
    if (size() > 0) all.slice_batch(0, size()).copy_from(matrix_);
    if (n > 0) all.slice_batch(size(), n).copy_from(normed);
    matrix_ = all;
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    for (int64_t i = 0; i < n; ++i) names_.push_back(names.empty() ? std::string() : names[static_cast<size_t>(i)]);
  }

  // Top-k gallery entries per query row, best first (ties: lower gallery index first).
  std::vector<std::vector<GalleryHit>> search(const Tensor<T, D>& queries, int64_t k) const {
    check_rank(queries, 2, "Gallery::search (queries [q, d])");
    check<ShapeError>(queries.dim(1) == dim_, "Gallery::search: queries ", queries.shape().str(),
                      " do not have the gallery's size ", dim_);
    check<ConfigError>(k > 0, "Gallery::search: k must be positive, got ", k);
    const int64_t q = queries.dim(0), n = size();
    std::vector<std::vector<GalleryHit>> out(static_cast<size_t>(q));
    if (n == 0 || q == 0) return out;
    Tensor<T, D> qn = l2_normalize(queries);
    Tensor<T, D> scores(Shape{q, n});
    ops::Gemm<D>::run(false, true, q, n, dim_, T(1), qn.data(), dim_, matrix_.data(), dim_, T(0), scores.data(), n);
    const std::vector<T> s = scores.to_vector();
    const int64_t kk = std::min(k, n);
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t r = 0; r < q; ++r) {
      for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
      const T* row = s.data() + r * n;
      std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      for (int64_t j = 0; j < kk; ++j) {
        const int64_t i = order[static_cast<size_t>(j)];
        out[static_cast<size_t>(r)].push_back(
            {i, ids_[static_cast<size_t>(i)], names_[static_cast<size_t>(i)], static_cast<double>(row[i])});
      }
    }
    return out;
  }

  const Tensor<T, D>& embeddings() const { return matrix_; }
  const std::vector<int64_t>& ids() const { return ids_; }

 private:
  int64_t dim_;
  Tensor<T, D> matrix_;
  std::vector<int64_t> ids_;
  std::vector<std::string> names_;
};

}  // namespace rfcf::recognition
