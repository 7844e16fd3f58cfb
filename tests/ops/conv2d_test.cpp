#include <catch2/catch.hpp>

#include "rfcf/rfcf.hpp"
#include "rfcf/ops/reference/conv2d.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using rfcf::testing::relative_error;
using TensorF = Tensor<float, cpu>;

namespace {

TensorF random_float(const Shape& s, Generator& g) {
  TensorF t(s);
  init::uniform(t, g, -1.0, 1.0);
  return t;
}

struct ConvCase {
  const char* name;
  int64_t n, cin, h, w, cout;
  ops::Conv2dGeometry g;
  bool bias;
};

ops::Conv2dGeometry geom(int64_t kh, int64_t kw, int64_t s = 1, int64_t p = 0, int64_t d = 1, int64_t groups = 1) {
  ops::Conv2dGeometry g;
  g.kernel_h = kh, g.kernel_w = kw, g.stride_h = g.stride_w = s, g.pad_h = g.pad_w = p;
  g.dilation_h = g.dilation_w = d, g.groups = groups;
  return g;
}

std::vector<ConvCase> conv_cases() {
  ops::Conv2dGeometry asym = geom(3, 5);
  asym.stride_h = 2, asym.stride_w = 1, asym.pad_h = 1, asym.pad_w = 2, asym.dilation_h = 1, asym.dilation_w = 2;
  return {
      {"3x3 pad 1", 2, 5, 9, 11, 7, geom(3, 3, 1, 1), true},
      {"3x3 stride 2 odd size", 1, 3, 13, 7, 8, geom(3, 3, 2, 1), false},
      {"1x1 pointwise", 2, 16, 5, 6, 24, geom(1, 1), true},
      {"1x1 stride 2", 1, 6, 9, 9, 5, geom(1, 1, 2), false},
      {"1x1 padded", 1, 4, 3, 5, 3, geom(1, 1, 1, 1), true},
      {"7x6 rectangular", 1, 3, 17, 15, 4, geom(7, 6, 2, 3), true},
      {"dilation 2", 2, 4, 12, 10, 6, geom(3, 3, 1, 2, 2), false},
      {"mixed stride/pad/dilation", 1, 3, 11, 14, 5, asym, true},
      {"groups 2", 2, 6, 8, 9, 4, geom(3, 3, 1, 1, 1, 2), true},
      {"groups 3 1x1", 1, 9, 5, 5, 6, geom(1, 1, 1, 0, 1, 3), false},
      {"depthwise 3x3", 2, 8, 10, 13, 8, geom(3, 3, 1, 1, 1, 8), true},
      {"depthwise stride 2", 1, 5, 11, 9, 5, geom(3, 3, 2, 1, 1, 5), false},
      {"depthwise 5x4 dilated", 1, 3, 14, 12, 3, geom(5, 4, 1, 2, 2, 3), true},
      {"depthwise multiplier 2", 1, 4, 7, 7, 8, geom(3, 3, 1, 1, 1, 4), true},
      {"batch 1 single pixel", 1, 3, 1, 1, 2, geom(3, 3, 1, 1), true},
      {"tall image many bands", 1, 2, 150, 3, 3, geom(3, 3, 1, 1), false},
      {"kernel larger than input (padded)", 1, 2, 3, 2, 3, geom(5, 5, 1, 2), true},
  };
}

}  // namespace

TEST_CASE("Conv2dOp<cpu> matches the naive reference", "[ops][conv2d]") {
  Generator gen(42);
  for (const auto& c : conv_cases()) {
    INFO("case: " << c.name);
    const auto& g = c.g;
    TensorF x = random_float(Shape{c.n, c.cin, c.h, c.w}, gen);
    TensorF w = random_float(Shape{c.cout, c.cin / g.groups, g.kernel_h, g.kernel_w}, gen);
    TensorF b = random_float(Shape{c.cout}, gen);
    const TensorF* bp = c.bias ? &b : nullptr;

    TensorF y = ops::Conv2dOp<cpu>::forward(g, x, w, bp);
    TensorF y_ref = ops::reference::conv2d_forward(g, x, w, bp);
    REQUIRE(y.shape() == y_ref.shape());
    CHECK(relative_error(y, y_ref) < 1e-5);

    TensorF dy = random_float(y.shape(), gen);
    TensorF dx = ops::Conv2dOp<cpu>::backward_data(g, dy, w, x.shape());
    CHECK(relative_error(dx, ops::reference::conv2d_backward_data(g, dy, w, x.shape())) < 1e-5);

    // Both accumulate: start from the same non-zero gradients.
    TensorF dw0 = random_float(w.shape(), gen), db0 = random_float(b.shape(), gen);
    TensorF dw = dw0.clone(), db = db0.clone(), dw_ref = dw0.clone(), db_ref = db0.clone();
    ops::Conv2dOp<cpu>::backward_weight(g, x, dy, dw, c.bias ? &db : nullptr);
    ops::reference::conv2d_backward_weight(g, x, dy, dw_ref, c.bias ? &db_ref : nullptr);
    CHECK(relative_error(dw, dw_ref) < 1e-5);
    CHECK(relative_error(db, db_ref) < 1e-5);
  }
}

TEST_CASE("Conv2dOp<cpu> runs the same on one thread", "[ops][conv2d]") {
  Generator gen(3);
  const int saved = num_threads();
  const auto g = geom(3, 3, 1, 1);
  TensorF x = random_float(Shape{2, 4, 20, 9}, gen), w = random_float(Shape{5, 4, 3, 3}, gen);
  TensorF y_parallel = ops::Conv2dOp<cpu>::forward(g, x, w, nullptr);
  set_num_threads(1);
  TensorF y_serial = ops::Conv2dOp<cpu>::forward(g, x, w, nullptr);
  set_num_threads(saved);
  CHECK(relative_error(y_parallel, y_serial) < 1e-6);
}

TEST_CASE("Conv2dOp<cpu> rejects mismatched shapes", "[ops][conv2d]") {
  const auto g = geom(3, 3, 1, 1);
  TensorF x(Shape{1, 4, 8, 8});
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(g, x, TensorF(Shape{2, 3, 3, 3}), nullptr), ShapeError);
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(g, x, TensorF(Shape{2, 4, 3, 2}), nullptr), ShapeError);
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(g, TensorF(Shape{4, 8, 8}), TensorF(Shape{2, 4, 3, 3}), nullptr),
                  ShapeError);
  TensorF bias(Shape{3});
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(g, x, TensorF(Shape{2, 4, 3, 3}), &bias), ShapeError);
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(geom(5, 5), TensorF(Shape{1, 4, 3, 3}), TensorF(Shape{2, 4, 5, 5}),
                                              nullptr),
                  ShapeError);
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::backward_data(g, TensorF(Shape{1, 2, 7, 8}), TensorF(Shape{2, 4, 3, 3}),
                                                    x.shape()),
                  ShapeError);
  auto zero_stride = g;
  zero_stride.stride_h = 0;
  CHECK_THROWS_AS(ops::Conv2dOp<cpu>::forward(zero_stride, x, TensorF(Shape{2, 4, 3, 3}), nullptr), ConfigError);
}
