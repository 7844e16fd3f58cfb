#pragma once
// Shape validation shared by every Conv2dOp<D> (device-independent).
#include <cstdint>

#include "rfcf/core/error.hpp"
#include "rfcf/core/shape.hpp"
#include "rfcf/ops/conv2d.hpp"

namespace rfcf::ops {

// Throws a ConfigError for an invalid geometry and a ShapeError unless x [N,Cin,H,W] and w [Cout,Cin/groups,kh,kw] fit the geometry and the
// output is non-empty. `what` names the caller in the message.
inline void check_conv2d(const Conv2dGeometry& g, const Shape& x, const Shape& w, const char* what) {
  check<ConfigError>(g.kernel_h > 0 && g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0 && g.pad_h >= 0 &&
                        g.pad_w >= 0 && g.dilation_h > 0 && g.dilation_w > 0 && g.groups > 0,
                    what, ": invalid geometry (kernel ", g.kernel_h, "x", g.kernel_w, ", stride ", g.stride_h, "x",
                    g.stride_w, ", padding ", g.pad_h, "x", g.pad_w, ", dilation ", g.dilation_h, "x",
                    g.dilation_w, ", groups ", g.groups, ")");
  check<ShapeError>(x.rank() == 4, what, ": input must be [N,C,H,W], got ", x.str());
  check<ShapeError>(w.rank() == 4, what, ": weight must be [Cout,Cin/groups,kh,kw], got ", w.str());
  check<ShapeError>(x[1] % g.groups == 0 && w[0] % g.groups == 0 && w[1] * g.groups == x[1], what, ": input ",
                    x.str(), " and weight ", w.str(), " do not agree with groups = ", g.groups);
  check<ShapeError>(w[2] == g.kernel_h && w[3] == g.kernel_w, what, ": weight ", w.str(), " is not a ",
                    g.kernel_h, "x", g.kernel_w, " kernel");
  check<ShapeError>(x[2] + 2 * g.pad_h >= g.dilation_h * (g.kernel_h - 1) + 1 &&
                        x[3] + 2 * g.pad_w >= g.dilation_w * (g.kernel_w - 1) + 1, what, ": input ", x.str(), " is smaller than the ",
                    g.kernel_h, "x", g.kernel_w, " kernel (dilation ", g.dilation_h, "x", g.dilation_w,
                    ", padding ", g.pad_h, "x", g.pad_w, ")");
}

}  // namespace rfcf::ops
