// Margin policies, MarginLoss and MarginHead against PyTorch fixtures (make_margin_fixtures.py),
// finite differences in double, and the behaviours of recognition.md 2.7 / 12.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "recognition/fixture_file.hpp"
#include "rfcf/cpu.hpp"
#include "rfcf/nn/state_dict.hpp"
#include "rfcf/recognition.hpp"
#include "support/gradcheck.hpp"

using namespace rfcf;
using namespace rfcf::recognition;
using rfcf::testing::margin_fixtures;
using rfcf::testing::relative_error;

namespace {

template <class T>
double tolerance() {
  return std::is_same_v<T, double> ? 1e-5 : 1e-4;
}
template <class T>
const char* tag() {
  return std::is_same_v<T, double> ? "f64" : "f32";
}
double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

template <class T>
Tensor<T, cpu> transpose(const Tensor<T, cpu>& m) {
  const int64_t r = m.dim(0), c = m.dim(1);
  Tensor<T, cpu> out(Shape{c, r});
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) out.data()[j * r + i] = m.data()[i * c + j];
  return out;
}

template <class T, class Policy>
void check_head_fixture(const std::string& name, Policy policy) {
  const auto& fx = margin_fixtures();
  const std::string p = "head_" + name + "_" + tag<T>() + "_";
  auto emb = fx.tensor<T>(std::string("head_") + tag<T>() + "_emb");
  auto weight = fx.tensor<T>(std::string("head_") + tag<T>() + "_weight");
  MarginHead<Policy, T, cpu> head(emb.dim(1), weight.dim(0), policy);
  head.load_weight(weight);
  auto out = head.forward(emb, fx.labels("head_labels"));
  INFO(name << " " << tag<T>());
  CHECK(rel(out.loss, fx.scalar(p + "loss")) < tolerance<T>());
  CHECK(out.accuracy == Approx(fx.scalar(p + "accuracy")));
  CHECK(relative_error(out.logits, fx.tensor<T>(p + "logits")) < tolerance<T>());
  auto demb = head.backward();
  CHECK(relative_error(demb, fx.tensor<T>(p + "demb")) < tolerance<T>());
  CHECK(relative_error(head.weight().grad, fx.tensor<T>(p + "dweight")) < tolerance<T>());
}

template <class T>
void check_all_heads() {
  check_head_fixture<T>("softmax", Softmax(64));
  check_head_fixture<T>("cosface", CosFace(0.4, 64));
  check_head_fixture<T>("arcface", ArcFace(0.5, 64));
  check_head_fixture<T>("arcface_s32", ArcFace(0.5, 32));
  check_head_fixture<T>("arcface_easy", ArcFace(0.5, 64, ArcFaceVariant::easy));
  check_head_fixture<T>("arcface_st", ArcFace::arcface_torch(0.5, 64));
  check_head_fixture<T>("arcface_acos", ArcFace(0.5, 64, ArcFaceVariant::none, MarginGradient::exact));
  check_head_fixture<T>("combined_mx_1_03_02", Combined(1.0, 0.3, 0.2));
  check_head_fixture<T>("combined_mx_12_04_0", Combined(1.2, 0.4, 0.0));
  check_head_fixture<T>("combined_mx_1_0_035", Combined(1.0, 0.0, 0.35));
  check_head_fixture<T>("combined_torch_1_03_02", Combined(1.0, 0.3, 0.2, 64, CombinedMode::arcface_torch));
  check_head_fixture<T>("combined_torch_1_05_0", Combined(1.0, 0.5, 0.0, 64, CombinedMode::arcface_torch));
}

template <class T>
void check_reference_vector() {
  const auto& fx = margin_fixtures();
  const std::string p = std::string("ref24_") + tag<T>() + "_";
  MarginLoss<CurricularFace, T, cpu> loss{CurricularFace(0.5, 64)};
  loss.set_t(0.30);
  const T l = loss.forward(fx.tensor<T>(p + "cos"), fx.labels("ref24_labels"));
  CHECK(rel(l, fx.scalar(p + "loss")) < tolerance<T>());
  CHECK(rel(loss.t_value(), fx.scalar(p + "t1")) < tolerance<T>());
  CHECK(relative_error(loss.backward(), fx.tensor<T>(p + "dcos")) < tolerance<T>());
}

template <class T>
void check_clamp_case() {
  const auto& fx = margin_fixtures();
  const std::string p = std::string("clamp_") + tag<T>() + "_";
  MarginLoss<CurricularFace, T, cpu> loss{CurricularFace()};
  loss.set_t(0.1);
  const T l = loss.forward(fx.tensor<T>(p + "raw"), fx.labels("clamp_labels"));
  CHECK(rel(l, fx.scalar(p + "loss")) < tolerance<T>());
  auto g = loss.backward();
  CHECK(relative_error(g, fx.tensor<T>(p + "draw")) < tolerance<T>());
  CHECK(g.data()[1] == T(0));       // raw 1.02: outside the clamp, no gradient
  CHECK(g.data()[2 * 4 + 2] == T(0));  // raw -1.0001 (a target): no gradient
}

template <class T>
void check_curricular_steps() {
  const auto& fx = margin_fixtures();
  const std::string p = std::string("curr_") + tag<T>() + "_";
  auto kernel = fx.tensor<T>(p + "kernel");  // (d, C), CurricularFace layout
  MarginHead<CurricularFace, T, cpu> head(kernel.dim(0), kernel.dim(1), CurricularFace());
  head.load_kernel(kernel);
  CHECK(head.t_value() == 0.0);
  for (int k = 0; k < 5; ++k) {
    const std::string s = p + std::to_string(k) + "_";
    INFO("step " << k << " " << tag<T>());
    nn::zero_grad(head);
    auto out = head.forward(fx.tensor<T>(s + "emb"), fx.labels("curr_" + std::to_string(k) + "_labels"));
    CHECK(rel(head.t_value(), fx.scalar(s + "t")) < tolerance<T>());
    CHECK(rel(out.loss, fx.scalar(s + "loss")) < tolerance<T>());
    CHECK(out.accuracy == Approx(fx.scalar(s + "accuracy")));
    CHECK(relative_error(out.logits, fx.tensor<T>(s + "logits")) < tolerance<T>());
    CHECK(relative_error(head.backward(), fx.tensor<T>(s + "demb")) < tolerance<T>());
    CHECK(relative_error(transpose(head.weight().grad), fx.tensor<T>(s + "dkernel")) < tolerance<T>());
  }
}

// Loss of the head as a function of its inputs, for finite differences (eval mode: t fixed).
template <class Policy>
void finite_difference_check(Policy policy, double tol = 1e-6) {
  using TD = Tensor<double, cpu>;
  Generator g(3);
  const int64_t B = 5, C = 6, d = 7;
  MarginHead<Policy, double, cpu> head(d, C, policy, {}, g);
  head.eval();
  if constexpr (Policy::uses_t) head.set_t(0.3);
  TD emb = rfcf::testing::random_tensor(Shape{B, d}, g);
  const std::vector<int64_t> labels{0, 5, 2, 2, 4};
  // Pull two targets up so positive, negative, and fallback branches all occur.
  for (int64_t k = 0; k < d; ++k) {
    emb.data()[0 * d + k] += 40.0 * head.weight().value.data()[0 * d + k];
    emb.data()[1 * d + k] -= 150.0 * head.weight().value.data()[5 * d + k];
  }
  nn::zero_grad(head);
  head.forward(emb, labels);
  TD demb = head.backward();
  std::vector<double> dw = head.weight().grad.to_vector();
  auto loss = [&] { return static_cast<double>(head.forward(emb, labels).loss); };
  auto probe = [&](double* v, int64_t n, const double* analytic) {
    double diff = 0, scale = 1e-12;
    for (int64_t i = 0; i < n; ++i) {
      const double h = 1e-6 * std::max(1.0, std::abs(v[i]));
      const double saved = v[i];
      v[i] = saved + h;
      const double lp = loss();
      v[i] = saved - h;
      const double lm = loss();
      v[i] = saved;
      const double numeric = (lp - lm) / (2 * h);
      diff = std::max(diff, std::abs(numeric - analytic[i]));
      scale = std::max(scale, std::abs(numeric));
    }
    return diff / scale;
  };
  CHECK(probe(emb.data(), emb.numel(), demb.data()) < tol);
  CHECK(probe(head.weight().value.data(), head.weight().value.numel(), dw.data()) < tol);
}

}  // namespace

TEST_CASE("CurricularFace reproduces the reference vector of recognition.md 2.4", "[recognition][margin]") {
  check_reference_vector<double>();
  check_reference_vector<float>();
  // The published numbers themselves, independent of the fixture file.
  MarginLoss<CurricularFace, double, cpu> loss{CurricularFace()};
  loss.set_t(0.30);
  auto c = Tensor<double, cpu>::from_host(Shape{3, 4}, {0.62, 0.70, -0.10, 0.05, 0.10, 0.35, 0.48, -0.20, -0.95,
                                                         0.20, 0.30, 0.10});
  CHECK(loss.forward(c, {0, 2, 0}) == Approx(45.34051788803288).epsilon(1e-13));
  CHECK(loss.t_value() == Approx(0.2975).epsilon(1e-14));
  auto g = loss.backward().to_vector();
  const double expect[12] = {-26.803825000, 36.213333333, 1.386e-21, 2.047e-17, 6.7871398e-05, 21.279852769,
                             -24.317888854, 2.959e-11, -21.333333333, 0.089800222, 19.028593648, 1.3988919961e-03};
  // The spec prints 4 significant digits for the tiny entries and 8 or more for the others.
  for (int i = 0; i < 12; ++i) CHECK(g[i] == Approx(expect[i]).epsilon(std::abs(expect[i]) < 1e-9 ? 1e-3 : 1e-8));
}

TEST_CASE("clamp gradient and boundary cosines match PyTorch", "[recognition][margin]") {
  check_clamp_case<double>();
  check_clamp_case<float>();
}

TEST_CASE("margin heads match PyTorch in double and float", "[recognition][margin]") {
  check_all_heads<double>();
  check_all_heads<float>();
}

TEST_CASE("CurricularFace t evolves over five steps as the official code", "[recognition][margin]") {
  check_curricular_steps<double>();
  check_curricular_steps<float>();
}

TEST_CASE("margin heads pass the finite-difference check in double", "[recognition][margin][gradcheck]") {
  finite_difference_check(Softmax(30));
  finite_difference_check(CosFace(0.35, 30));
  finite_difference_check(ArcFace(0.5, 30));
  finite_difference_check(ArcFace(0.5, 30, ArcFaceVariant::easy));
  finite_difference_check(ArcFace(0.5, 30, ArcFaceVariant::none));
  finite_difference_check(Combined(1.2, 0.4, 0.15, 30));
  finite_difference_check(Combined(0.9, 0.4, 0.15, 30));
  finite_difference_check(CurricularFace(0.5, 30));
}

TEST_CASE("straight-through ArcFace keeps the value but not the exact gradient", "[recognition][margin]") {
  const ArcFace exact(0.5, 64, ArcFaceVariant::none), st = ArcFace::arcface_torch(0.5, 64);
  for (double c : {-0.99, -0.5, 0.0, 0.3, 0.9}) {
    CHECK(st.target(c).value == Approx(std::cos(std::acos(c) + 0.5)).margin(1e-15));
    CHECK(st.target(c).value == exact.target(c).value);
    CHECK(st.target(c).grad == 1.0);
    CHECK(exact.target(c).grad == Approx(std::sin(std::acos(c) + 0.5) / std::sin(std::acos(c))));
  }
}

TEST_CASE("ArcFace non-easy fallback is the documented discontinuity", "[recognition][margin]") {
  const ArcFace a(0.5);
  const double th = std::cos(M_PI - 0.5);
  CHECK(a.threshold == Approx(-0.8775825618903726));
  CHECK(a.mm == Approx(0.23971276930210156));
  CHECK(a.target(th + 1e-9).value == Approx(-1.0).margin(1e-4));
  CHECK(a.target(th).value == Approx(-1.11730).margin(1e-5));  // c_y - m sin m at the boundary
  const ArcFace easy(0.5, 64, ArcFaceVariant::easy);
  CHECK(easy.target(-0.1).value == -0.1);
  CHECK(easy.target(0.0).value == 0.0);
}

TEST_CASE("cosines of exactly +-1 give finite losses and gradients", "[recognition][margin]") {
  auto c = Tensor<double, cpu>::from_host(Shape{2, 3}, {1.0, 0.2, -0.3, 0.1, -1.0, 1.0});
  const std::vector<int64_t> y{0, 1};
  auto finite = [&](auto policy) {
    MarginLoss<decltype(policy), double, cpu> loss(policy);
    const double l = loss.forward(c, y);
    bool ok = std::isfinite(l);
    for (double v : loss.backward().to_vector()) ok = ok && std::isfinite(v);
    return ok;
  };
  CHECK(finite(CurricularFace()));
  CHECK(finite(ArcFace(0.5)));
  CHECK(finite(ArcFace(0.5, 64, ArcFaceVariant::none)));
  CHECK(finite(Combined(1.2, 0.4, 0.1)));
  CHECK(finite(ArcFace(0.5, 64, ArcFaceVariant::easy)));
}

TEST_CASE("CurricularFace without hard negatives equals ArcFace", "[recognition][margin]") {
  // All negatives below phi of their row: the modulation never applies, whatever t is.
  auto c = Tensor<double, cpu>::from_host(Shape{2, 3}, {0.9, -0.5, 0.1, -0.7, 0.8, -0.9});
  const std::vector<int64_t> y{0, 1};
  MarginLoss<CurricularFace, double, cpu> curr{CurricularFace()};
  curr.set_t(0.7);
  curr.eval();
  MarginLoss<ArcFace, double, cpu> arc{ArcFace()};
  CHECK(curr.forward(c, y) == Approx(arc.forward(c, y)).epsilon(1e-15));
  CHECK(relative_error(curr.backward(), arc.backward()) < 1e-15);
  // A hard negative changes the value by c (t + c) and the gradient factor to t + 2c.
  const CurricularFace p;
  const auto row = p.row_state(0.2, 0.3);
  CHECK(row.phi == Approx(std::cos(std::acos(0.2) + 0.5)));
  CHECK(p.negative(0.1, row).value == Approx(0.1 * 0.4));
  CHECK(p.negative(0.1, row).grad == Approx(0.5));
  CHECK(p.negative(row.phi, row).value == row.phi);  // strict: equal to phi is not hard
}

TEST_CASE("Combined arcface_torch mode ignores m1 and m2 when m3 > 0", "[recognition][margin]") {
  const Combined torch(1.0, 0.3, 0.2, 64, CombinedMode::arcface_torch);
  const Combined mx(1.0, 0.3, 0.2);
  const CosFace cf(0.2);
  CHECK(torch.target(0.5).value == cf.target(0.5).value);
  CHECK(mx.target(0.5).value == Approx(std::cos(std::acos(0.5) + 0.3) - 0.2));
  CHECK_THROWS_AS(Combined(1.2, 0.4, 0.0, 64, CombinedMode::arcface_torch), ConfigError);
  CHECK_THROWS_AS(Combined(0.0, 0.4, 0.0), ConfigError);
  CHECK_THROWS_AS(ArcFace(-0.1), ConfigError);
}

TEST_CASE("CurricularFace t: buffer name, eval mode, local and global modes", "[recognition][margin]") {
  Generator g(1);
  MarginHead<CurricularFace, double, cpu> head(4, 3, CurricularFace(), {}, g);
  std::vector<std::string> params, buffers;
  nn::for_each_parameter(head, [&](const std::string& n, auto&) { params.push_back(n); }, "head");
  nn::for_each_buffer(head, [&](const std::string& n, auto&) { buffers.push_back(n); }, "head");
  CHECK(params == std::vector<std::string>{"head.weight"});
  CHECK(buffers == std::vector<std::string>{"head.t"});
  MarginHead<ArcFace, double, cpu> arc(4, 3);
  int n_buffers = 0;
  nn::for_each_buffer(arc, [&](const std::string&, auto&) { ++n_buffers; });
  CHECK(n_buffers == 0);

  auto emb = rfcf::testing::random_tensor(Shape{2, 4}, g);
  const std::vector<int64_t> y{0, 2};
  auto cy = [&] {  // mean clamped target cosine of this batch
    auto out = head.forward(emb, y);
    auto logits = out.logits.to_vector();
    return (logits[0] + logits[3 + 2]) / 2.0 / 64.0;
  };
  head.eval();
  const double mean = cy();
  CHECK(head.t_value() == 0.0);  // eval mode leaves t alone
  head.train();
  head.forward(emb, y);
  CHECK(head.t_value() == Approx(0.01 * mean));

  head.set_t(0.5);
  head.set_t_mode(TMode::global);
  CHECK_THROWS_AS(head.forward(emb, y), ConfigError);
  head.set_t_reducer([](double& sum, double& count) {  // another rank with sum 1.0 over 2 samples
    sum += 1.0;
    count += 2.0;
  });
  head.forward(emb, y);
  CHECK(head.t_value() == Approx(0.01 * (2 * mean + 1.0) / 4.0 + 0.99 * 0.5));
}

TEST_CASE("margin head rejects bad input with clear errors", "[recognition][margin]") {
  MarginHead<ArcFace, float, cpu> head(4, 3);
  Tensor<float, cpu> emb = zeros<float, cpu>(Shape{2, 4});
  CHECK_THROWS_AS(head.forward(emb, {0, 3}), ShapeError);
  CHECK_THROWS_AS(head.forward(emb, {0}), ShapeError);
  CHECK_THROWS_AS(head.forward(zeros<float, cpu>(Shape{2, 5}), {0, 1}), ShapeError);
  CHECK_THROWS_AS(head.backward(), Error);
  CHECK_THROWS_AS(head.load_kernel(zeros<float, cpu>(Shape{3, 4})), ShapeError);
  CHECK_THROWS_AS((MarginHead<ArcFace, float, cpu>(0, 3)), ConfigError);
  auto ones_emb = ones<float, cpu>(Shape{2, 4});
  {
    nn::NoGradGuard no_grad;
    head.forward(ones_emb, {0, 1});
  }
  CHECK_THROWS_AS(head.backward(), Error);  // nothing cached under no-grad
}

TEST_CASE("CurricularFace t and weight round-trip through a safetensors checkpoint", "[recognition][margin][io]") {
  Generator g(2);
  MarginHead<CurricularFace, float, cpu> head(4, 3, CurricularFace(), {}, g);
  head.forward(ones<float, cpu>(Shape{2, 4}), {0, 1});
  head.set_t(0.4375f);
  const std::string path = (std::filesystem::temp_directory_path() / "rfcf_margin_head_test.safetensors").string();
  nn::save_safetensors(head, path);
  MarginHead<CurricularFace, float, cpu> restored(4, 3, CurricularFace(), {}, g);
  CHECK(restored.t_value() == 0.0);
  auto report = nn::load_safetensors(restored, path);
  std::remove(path.c_str());
  CHECK(report.ok());
  CHECK(restored.t_value() == 0.4375);
  CHECK(restored.weight().value.to_vector() == head.weight().value.to_vector());
  // An ArcFace head has no t: loading the CurricularFace file strictly reports the extra key.
  nn::save_safetensors(head, path);
  MarginHead<ArcFace, float, cpu> arc(4, 3);
  CHECK_THROWS_AS(nn::load_safetensors(arc, path), nn::StateDictError);
  std::remove(path.c_str());
}
