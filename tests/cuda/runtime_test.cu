// The cuda device policy: allocator, copies, pinned buffers, streams and events, the executor
// running rfcf's functors, error reporting, and whole layer stacks against the cpu device.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "cuda/compare.hpp"
#include "cuda/cpu_reference.hpp"
#include "cuda/layer_stack.hpp"
#include "rfcf/cuda.cuh"

using namespace rfcf;
using rfcf::test::random_vector;
using rfcf::test::relative_error;
using CTensor = Tensor<float, cuda>;

namespace {
// Writes the last four indices of a huge range (exercises the int64 index path cheaply).
struct TailIndices {
  int64_t* out;
  int64_t n;
  RFCF_HD void operator()(int64_t i) const {
    if (i >= n - 4) out[i - (n - 4)] = i;
  }
};
}  // namespace

TEST_CASE("cuda allocator reuses freed blocks and keeps statistics", "[cuda][allocator]") {
  Allocator<cuda>::empty_cache();
  const auto before = Allocator<cuda>::stats();
  const void* first = nullptr;
  {
    CTensor a(Shape{1000, 1000});
    first = a.data();
    const auto s = Allocator<cuda>::stats();
    CHECK(s.allocated_bytes == before.allocated_bytes + detail::round_block_size(a.bytes()));
    CHECK(s.raw_allocations == before.raw_allocations + 1);
    CHECK(s.peak_bytes >= s.allocated_bytes);
  }
  const auto freed = Allocator<cuda>::stats();
  CHECK(freed.allocated_bytes == before.allocated_bytes);
  CHECK(freed.cached_bytes >= detail::round_block_size(1000 * 1000 * sizeof(float)));
  {
    CTensor b(Shape{1000, 1000});
    CHECK(b.data() == first);  // same rounded size: the cached block comes back
    CHECK(Allocator<cuda>::stats().raw_allocations == freed.raw_allocations);
  }
  Allocator<cuda>::empty_cache();
  CHECK(Allocator<cuda>::stats().cached_bytes == 0);
}

TEST_CASE("cuda allocator reports out of memory after emptying its cache", "[cuda][allocator]") {
  { CTensor keep(Shape{1 << 20}); }  // leaves one cached block
  REQUIRE(Allocator<cuda>::stats().cached_bytes > 0);
  try {
    CTensor huge(Shape{int64_t{1} << 48});  // 1 PiB
    FAIL("allocating 1 PiB did not throw");
  } catch (const DeviceError& e) {
    CHECK(std::string(e.what()).find("out of GPU memory") != std::string::npos);
  }
  CHECK(Allocator<cuda>::stats().cached_bytes == 0);  // the retry emptied the cache
  CTensor after(Shape{16});                            // and the device is still usable
  fill(after, 2.0f);
  CHECK(after.to_vector() == std::vector<float>(16, 2.0f));
}

TEST_CASE("cuda error checks throw DeviceError naming call, file and message", "[cuda][error]") {
  try {
    RFCF_CUDA_CHECK(cudaSetDevice(1 << 20));
    FAIL("no throw");
  } catch (const DeviceError& e) {
    const std::string m = e.what();
    CHECK(m.find("cudaSetDevice(1 << 20)") != std::string::npos);
    CHECK(m.find("runtime_test.cu:") != std::string::npos);
    CHECK(m.find("invalid device ordinal") != std::string::npos);
  }
  (void)cudaGetLastError();
  CHECK_THROWS_AS(RFCF_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE), DeviceError);
  CHECK_THROWS_WITH(RFCF_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM), Catch::Contains("CUDNN_STATUS_BAD_PARAM"));
}

TEST_CASE("cuda copies round trip through pageable and pinned memory", "[cuda][copy]") {
  const auto host = random_vector<float>(12345, 1);
  const auto t = CTensor::from_host(Shape{5, 2469}, host);
  CHECK(t.to_vector() == host);

  const CTensor c = t.clone();  // device -> device
  CHECK(!c.shares_storage_with(t));
  CHECK(c.to_vector() == host);

  const Tensor<float, cpu> h = t.to<cpu>();
  CHECK(h.to_vector() == host);
  const CTensor back = h.to<cuda>();
  CHECK(back.to_vector() == host);

  // A batch slice copies only its rows.
  const CTensor rows = t.slice_batch(2, 2).clone();
  CHECK(rows.to_vector() == std::vector<float>(host.begin() + 2 * 2469, host.begin() + 4 * 2469));

  cuda_rt::PinnedBuffer<float> pinned(host.size()), out(host.size());
  std::memcpy(pinned.data(), host.data(), pinned.bytes());
  CTensor d(Shape{static_cast<int64_t>(host.size())});
  cuda_rt::Stream s;
  RFCF_CUDA_CHECK(cudaMemcpyAsync(d.data(), pinned.data(), pinned.bytes(), cudaMemcpyHostToDevice, s.get()));
  RFCF_CUDA_CHECK(cudaMemcpyAsync(out.data(), d.data(), out.bytes(), cudaMemcpyDeviceToHost, s.get()));
  s.synchronize();
  CHECK(std::vector<float>(out.begin(), out.end()) == host);

  cuda_rt::PinnedBuffer<float> moved = std::move(pinned);
  CHECK(pinned.data() == nullptr);
  CHECK(moved.size() == host.size());
}

TEST_CASE("cuda streams: guard, ordering through events, timing", "[cuda][stream]") {
  CHECK(cuda_rt::current_stream() == nullptr);
  cuda_rt::Stream a, b;
  CTensor x(Shape{1 << 22});
  CTensor y(Shape{1 << 22});
  cuda_rt::Event done, t0(true), t1(true);
  {
    cuda_rt::StreamGuard ga(a);
    CHECK(cuda_rt::current_stream() == a.get());
    t0.record();
    fill(x, 3.0f);  // runs on stream a
    t1.record();
    done.record();
    {
      cuda_rt::StreamGuard gb(b);
      CHECK(cuda_rt::current_stream() == b.get());
      done.wait();            // b waits for a's fill
      y.copy_from(x);         // device -> device on stream b
      x = ops::scale(y, 2.0f);
    }
    CHECK(cuda_rt::current_stream() == a.get());
  }
  CHECK(cuda_rt::current_stream() == nullptr);
  b.synchronize();
  CHECK(b.query());
  t1.synchronize();
  CHECK(t1.elapsed_ms_since(t0) >= 0.0f);
  const auto vx = x.to_vector(), vy = y.to_vector();
  CHECK(vy == std::vector<float>(vy.size(), 3.0f));
  CHECK(vx == std::vector<float>(vx.size(), 6.0f));
}

TEST_CASE("Executor<cuda> runs rfcf's functors: fill, elementwise, activations, concat", "[cuda][executor]") {
  const Shape s{3, 4, 5, 7};
  const auto va = random_vector<float>(s.numel(), 2), vb = random_vector<float>(s.numel(), 3);
  const auto a = CTensor::from_host(s, va), b = CTensor::from_host(s, vb);

  CHECK(zeros<float, cuda>(s).to_vector() == std::vector<float>(s.numel(), 0.0f));
  CHECK(full<float, cuda>(s, -1.5f).to_vector() == std::vector<float>(s.numel(), -1.5f));

  const auto sum = ops::add(a, b).to_vector();
  const auto prod = ops::multiply(a, b).to_vector();
  CTensor acc = a.clone();
  ops::axpy(acc, 0.5f, b);
  const auto vacc = acc.to_vector();
  for (size_t i = 0; i < va.size(); ++i) {
    CHECK(sum[i] == va[i] + vb[i]);
    CHECK(prod[i] == va[i] * vb[i]);
    CHECK(vacc[i] == Approx(va[i] + 0.5f * vb[i]));
  }

  nn::LeakyReLU<float, cuda> act(0.1);
  const auto y = act.forward(a).to_vector();
  const auto dx = act.backward(b).to_vector();
  for (size_t i = 0; i < va.size(); ++i) {
    CHECK(y[i] == (va[i] >= 0 ? va[i] : 0.1f * va[i]));
    CHECK(dx[i] == (va[i] > 0 ? vb[i] : 0.1f * vb[i]));
  }

  const auto c = ops::concat_channels<float, cuda>({a, b, a.slice_batch(0, 3)});
  REQUIRE(c.shape() == Shape({3, 12, 5, 7}));
  const auto vc = c.to_vector();
  const int64_t hw = 35;
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t ch = 0; ch < 12; ++ch)
      for (int64_t k = 0; k < hw; ++k) {
        const auto& src = (ch >= 4 && ch < 8) ? vb : va;
        CHECK(vc[(n * 12 + ch) * hw + k] == src[(n * 4 + ch % 4) * hw + k]);
      }
  CHECK(ops::slice_channels(c, 4, 4).to_vector() == vb);

  CTensor empty(Shape{0, 3});
  fill(empty, 1.0f);  // no launch for n = 0
  Executor<cuda>::synchronize();
}

TEST_CASE("Executor<cuda> covers index ranges beyond int32", "[cuda][executor]") {
  // Just below and above 2^31 (where i + stride would overflow int32) and a small range.
  for (const int64_t n : {(int64_t{1} << 31) - 3, (int64_t{1} << 31) + 5, int64_t{1000}}) {
    Tensor<int64_t, cuda> out(Shape{4});
    fill(out, int64_t{-1});
    Executor<cuda>::for_each(n, TailIndices{out.data(), n});
    CHECK(out.to_vector() == std::vector<int64_t>{n - 4, n - 3, n - 2, n - 1});
  }
}

TEST_CASE("a layer stack gives the same results on cuda and cpu", "[cuda][layers]") {
  const Shape s{2, 3, 6, 5};
  const auto x = random_vector<float>(s.numel(), 4);
  const auto dy = random_vector<float>(2 * s.numel(), 5);
  const auto [y_cpu, dx_cpu] = rfcf::test::layer_stack_cpu(s, x, dy);

  auto net = rfcf::test::make_layer_stack<cuda>();
  const auto y = net.forward(CTensor::from_host(s, x));
  REQUIRE(y.shape() == Shape({2, 6, 6, 5}));
  const auto dx = net.backward(CTensor::from_host(y.shape(), dy));
  CHECK(relative_error(y.to_vector(), y_cpu) == 0.0);
  CHECK(relative_error(dx.to_vector(), dx_cpu) == 0.0);
}
