// Compiles against the generated single header only.
#include "rfcf/rfcf.hpp"

int main() {
  using namespace rfcf;
  nn::LeakyReLU<float, cpu> act(0.1);
  auto x = Tensor<float, cpu>::from_host(Shape{2}, std::vector<float>{-2.f, 3.f});
  auto y = act.forward(x).to_vector();
  return (y[0] == -0.2f && y[1] == 3.f) ? 0 : 1;
}
