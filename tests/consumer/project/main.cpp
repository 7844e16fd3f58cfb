// A program outside the rfcf tree: builds a layer stack and runs forward/backward.
#include <rfcf/rfcf.hpp>

int main() {
  using namespace rfcf;
  nn::Sequential net{nn::LeakyReLU<float, cpu>(0.1), nn::ReLU<float, cpu>()};
  Tensor<float, cpu> x = Tensor<float, cpu>::from_host(Shape{1, 2}, std::vector<float>{-1.f, 2.f});
  Tensor<float, cpu> y = net.forward(x);
  return (y.to_vector()[0] == 0.f && y.to_vector()[1] == 2.f) ? 0 : 1;
}
