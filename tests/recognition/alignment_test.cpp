// Face alignment: templates, the similarity transform (golden M of recognition.md 9.2, an SVD
// Umeyama reference, reflections) and the warp against OpenCV's warpAffine
// (tests/fixtures/alignment, written by make_alignment_fixture.py).
#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "rfcf/recognition/alignment.hpp"

using namespace rfcf;
using namespace rfcf::recognition;

namespace {
const std::string kFix = std::string(RFCF_SOURCE_DIR) + "/tests/fixtures/alignment/";

std::vector<uint8_t> read_bytes(const std::string& path, size_t expect) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(static_cast<bool>(in));
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(b.size() == expect);
  return b;
}

// Umeyama with an explicit SVD (the textbook algorithm) as the reference for the closed form.
Eigen::Matrix<double, 2, 3> umeyama_svd(const Eigen::Matrix<double, 2, Eigen::Dynamic>& src,
                                        const Eigen::Matrix<double, 2, Eigen::Dynamic>& dst) {
  const double n = static_cast<double>(src.cols());
  Eigen::Vector2d ms = src.rowwise().mean(), md = dst.rowwise().mean();
  Eigen::Matrix<double, 2, Eigen::Dynamic> s = src.colwise() - ms, d = dst.colwise() - md;
  Eigen::Matrix2d A = d * s.transpose() / n;
  Eigen::Vector2d sign(1, 1);
  if (A.determinant() < 0) sign(1) = -1;
  Eigen::JacobiSVD<Eigen::Matrix2d> svd(A, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Vector2d rsign = sign;
  const Eigen::Vector2d S = svd.singularValues();
  if (S(1) <= 1e-12 * S(0))  // rank 1 (e.g. two points): det(A) is rounding noise; use det(U V^T)
    rsign(1) = svd.matrixU().determinant() * svd.matrixV().determinant() > 0 ? 1 : -1;
  Eigen::Matrix2d R = svd.matrixU() * rsign.asDiagonal() * svd.matrixV().transpose();
  const double var = s.squaredNorm() / n;
  const double c = svd.singularValues().dot(sign) / var;
  Eigen::Matrix<double, 2, 3> M;
  M.leftCols<2>() = c * R;
  M.col(2) = md - c * R * ms;
  return M;
}
}  // namespace

TEST_CASE("alignment: templates") {
  auto t = arcface_template(112);
  CHECK(t[0][0] == Approx(38.2946));
  CHECK(t[4][1] == Approx(92.2041));
  auto s = sphereface_template();
  CHECK(s[2][0] == Approx(48.0252));
  auto t224 = arcface_template(224);
  CHECK(t224[1][0] == Approx(2 * 73.5318));
  auto t128 = arcface_template(128);  // scale 1, shift x by 8
  CHECK(t128[0][0] == Approx(38.2946 + 8));
  CHECK(t128[0][1] == Approx(51.6963));
  auto t256 = arcface_template(256);
  CHECK(t256[0][0] == Approx(2 * 38.2946 + 16));
  CHECK_THROWS_AS(arcface_template(100), ConfigError);
}

TEST_CASE("alignment: golden similarity matrix of recognition.md 9.2") {
  const float lm[10] = {610.573975f, 382.868317f, 670.708557f, 373.479034f, 648.090515f,
                        415.453430f, 616.028503f, 431.917908f, 675.000366f, 424.357269f};
  const double golden[2][3] = {{0.62943068304, -0.071848207284, -320.23507123},
                               {0.071848207284, 0.62943068304, -229.68188802}};
  Affine2x3 M = estimate_norm(lm, 112);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) CHECK(M.m[r][c] == Approx(golden[r][c]).margin(c == 2 ? 2e-7 : 2e-10));
  // The inverse undoes M.
  auto p = M.apply(lm[0], lm[1]);
  auto q = M.inverse().apply(p[0], p[1]);
  CHECK(q[0] == Approx(lm[0]).epsilon(1e-12));
  CHECK(q[1] == Approx(lm[1]).epsilon(1e-12));
}

TEST_CASE("alignment: closed form equals SVD Umeyama, including reflected inputs") {
  std::mt19937 rng(3);
  std::normal_distribution<double> g(0, 1);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 2 + trial % 6;
    Eigen::Matrix<double, 2, Eigen::Dynamic> src(2, n), dst(2, n);
    for (int k = 0; k < n; ++k) {
      src(0, k) = 100 * g(rng);
      src(1, k) = 100 * g(rng);
      // Destination: a similarity of the source plus noise, mirrored in every other trial.
      const double mirror = (trial % 2) ? -1.0 : 1.0;
      dst(0, k) = 0.7 * src(0, k) - 0.2 * mirror * src(1, k) + 5 + g(rng);
      dst(1, k) = 0.2 * src(0, k) + 0.7 * mirror * src(1, k) - 3 + g(rng);
    }
    Affine2x3 M = similarity_transform(src.data(), dst.data(), n);
    auto ref = umeyama_svd(src, dst);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 3; ++c) CHECK(M.m[r][c] == Approx(ref(r, c)).margin(1e-9));
    // Never a reflection.
    CHECK(M.m[0][0] * M.m[1][1] - M.m[0][1] * M.m[1][0] >= 0);
  }
  const double same[4] = {1, 1, 1, 1}, dst[4] = {0, 0, 1, 1};
  CHECK_THROWS_AS(similarity_transform(same, dst, 2), Error);
}

TEST_CASE("alignment: warp agrees with OpenCV warpAffine on a kids.jpg patch") {
  const auto meta = nlohmann::json::parse(std::ifstream(kFix + "kids_alignment.json"));
  const int ph = meta["patch_size"][1], pw = meta["patch_size"][0];
  const auto patch = read_bytes(kFix + "kids_patch.bin", static_cast<size_t>(ph) * pw * 3);
  const auto ref = read_bytes(kFix + "kids_cv2_112.bin", 112 * 112 * 3);
  std::vector<double> lm = meta["landmarks"].get<std::vector<double>>();

  auto mean_abs = [&](const std::vector<uint8_t>& a) {
    double s = 0;
    int maxd = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const int d = std::abs(int(a[i]) - int(ref[i]));
      s += d;
      maxd = std::max(maxd, d);
    }
    return std::pair{s / static_cast<double>(a.size()), maxd};
  };

  // 1. The warp alone, with OpenCV's own matrix.
  Affine2x3 Mcv;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) Mcv.m[r][c] = meta["M_cv2"][r][c];
  std::vector<uint8_t> fixed(112 * 112 * 3), flt(112 * 112 * 3);
  warp_affine(patch.data(), ph, pw, 3, Mcv, fixed.data(), 112, 112, WarpInterpolation::opencv_fixed_point);
  warp_affine(patch.data(), ph, pw, 3, Mcv, flt.data(), 112, 112, WarpInterpolation::float_bilinear);
  auto [mad_fixed, max_fixed] = mean_abs(fixed);
  auto [mad_float, max_float] = mean_abs(flt);
  WARN("warp vs cv2.warpAffine: fixed-point mean |d| " << mad_fixed << " max " << max_fixed << "; float mean |d| "
                                                        << mad_float << " max " << max_float);
  CHECK(mad_fixed <= 0.01);
  CHECK(max_fixed <= 1);
  CHECK(mad_float <= 1.0);
  CHECK(max_float <= 2);

  // 2. Our transform: close to cv2.estimateAffinePartial2D's, and the full pipeline within 1 grey level.
  Affine2x3 M = estimate_norm(lm.data(), 112);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) CHECK(M.m[r][c] == Approx(Mcv.m[r][c]).margin(c == 2 ? 1e-3 : 1e-5));
  auto crop = align_face(patch.data(), ph, pw, 3, lm.data(), 112);
  auto [mad, maxd] = mean_abs(crop);
  WARN("align_face vs cv2 (estimateAffinePartial2D + warpAffine): mean |d| " << mad << " max " << maxd);
  CHECK(mad <= 1.0);

  // Black border: a transform that looks outside the image gives zeros.
  Affine2x3 far;
  far.m[0][2] = -1000;
  std::vector<uint8_t> out(16 * 16 * 3, 7);
  warp_affine(patch.data(), ph, pw, 3, far, out.data(), 16, 16);
  CHECK(std::all_of(out.begin(), out.end(), [](uint8_t v) { return v == 0; }));
  CHECK_THROWS_AS(warp_affine(patch.data(), 0, pw, 3, Mcv, out.data(), 16, 16), ShapeError);

  // 112 x 96 variant: the SphereFace template is the ArcFace one shifted by 8 px.
  auto narrow = align_face_112x96(patch.data(), ph, pw, 3, lm.data());
  REQUIRE(narrow.size() == 112 * 96 * 3);
  std::vector<uint8_t> crop_shift(112 * 112 * 3);
  Affine2x3 Ms = M;
  Ms.m[0][2] -= 8;
  warp_affine(patch.data(), ph, pw, 3, Ms, crop_shift.data(), 112, 112);
  int diff = 0;
  for (int y = 0; y < 112; ++y)
    for (int x = 0; x < 96; ++x)
      for (int c = 0; c < 3; ++c)
        diff = std::max(diff, std::abs(int(narrow[(y * 96 + x) * 3 + c]) - int(crop_shift[(y * 112 + x) * 3 + c])));
  CHECK(diff <= 1);
}
