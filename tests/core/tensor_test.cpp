#include <catch2/catch.hpp>

#include "rfcf/rfcf.hpp"

using namespace rfcf;

TEST_CASE("Tensor allocates, views the batch dimension and copies", "[core]") {
  auto t = Tensor<float, cpu>::from_host(Shape{3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
  REQUIRE(t.numel() == 6);
  REQUIRE(t.shape() == Shape{3, 2});
  auto v = t.slice_batch(1, 2);
  REQUIRE(v.shape() == Shape{2, 2});
  REQUIRE(v.to_vector() == std::vector<float>{3, 4, 5, 6});
  v.data()[0] = 30;  // views share storage
  REQUIRE(t.to_vector()[2] == 30);
  auto c = t.clone();
  c.data()[0] = -1;
  REQUIRE(t.to_vector()[0] == 1);
  auto d = t.to<cpu>();
  REQUIRE(d.to_vector() == t.to_vector());
  REQUIRE_FALSE(d.shares_storage_with(t));
}

TEST_CASE("Tensor shape errors name the shapes", "[core]") {
  Tensor<float, cpu> t(Shape{2, 3});
  REQUIRE_THROWS_AS(t.reshape(Shape{4}), ShapeError);
  REQUIRE_THROWS_WITH(t.slice_batch(1, 2), Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_AS(Shape({-1, 2}), ShapeError);
  auto bad = [] { return Tensor<float, cpu>::from_host(Shape{2}, std::vector<float>{1}); };
  REQUIRE_THROWS_WITH(bad(), Catch::Contains("[2]"));
}

TEST_CASE("double tensors and fill", "[core]") {
  auto t = full<double, cpu>(Shape{4, 1, 1, 5}, 2.5);
  REQUIRE(t.n() == 4);
  REQUIRE(t.w() == 5);
  for (double x : t.to_vector()) REQUIRE(x == 2.5);
}

TEST_CASE("caching allocator reuses freed blocks", "[core]") {
  Allocator<cpu>::empty_cache();
  const auto before = Allocator<cpu>::stats().raw_allocations;
  { Tensor<float, cpu> a(Shape{1000, 1000}); }
  { Tensor<float, cpu> b(Shape{1000, 1000}); }
  REQUIRE(Allocator<cpu>::stats().raw_allocations == before + 1);
  REQUIRE(Allocator<cpu>::stats().cached_bytes >= 4000000);
}

TEST_CASE("Generator is deterministic and kaiming_uniform respects its bound", "[core]") {
  Generator g1(42), g2(42);
  Tensor<float, cpu> a(Shape{16, 8, 3, 3}), b(Shape{16, 8, 3, 3});
  init::kaiming_uniform(a, g1);
  init::kaiming_uniform(b, g2);
  REQUIRE(a.to_vector() == b.to_vector());
  const double bound = 1.0 / std::sqrt(8.0 * 9.0);
  double mx = 0, mean = 0;
  for (float x : a.to_vector()) {
    mx = std::max(mx, std::abs(double(x)));
    mean += x;
  }
  REQUIRE(mx <= bound);
  REQUIRE(mx > 0.9 * bound);
  REQUIRE(std::abs(mean / a.numel()) < 0.1 * bound);
}
