// Distributed benchmarks (run by benchmarks/mpi/run_dist.sh under mpirun):
//   bench_dist train STEPS LOCAL_BATCH [OVERLAP BUCKET_KIB]
//                                        data-parallel MobileFaceNet (112x96) + CurricularFace head
//                                        (1000 classes), SGD; prints samples/s of the whole job;
//                                        OVERLAP 1 starts buckets during backward (overlap_backward)
//   bench_dist head CLASSES RATE BATCH   Partial FC margin head (d = 512) over the ranks: peak memory
//                                        per rank (VmHWM growth) against the computed bytes
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "rfcf/cpu.hpp"
#include "rfcf/dist.hpp"
#include "rfcf/dist/mpi.hpp"
#include "rfcf/models.hpp"
#include "rfcf/recognition.hpp"
#include "rfcf/train.hpp"

using namespace rfcf;

namespace {

// Peak (VmHWM) or current (VmRSS) resident set size of this process in bytes (Linux).
double rss(const char* which = "VmHWM:") {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == which) {
      double kb = 0;
      in >> kb;
      return kb * 1024.0;
    }
    std::getline(in, key);
  }
  return 0;
}

// Backbone and head as one model for FlatParameters and the broadcast.
struct Both {
  models::MobileFaceNet<float, cpu>* net;
  recognition::MarginHead<recognition::CurricularFace, float, cpu>* head;
  template <class V>
  void visit(V& v, const std::string& p) {
    net->visit(v, nn::join_name(p, "backbone"));
    head->visit(v, nn::join_name(p, "head"));
  }
};

int run_train(dist::MpiCommunicator& comm, int steps, int64_t b, bool overlap, int64_t bucket_kib) {
  using Policy = recognition::CurricularFace;
  models::MobileFaceNet<float, cpu> net;
  recognition::MarginHead<Policy, float, cpu> head(128, 1000);
  Both both{&net, &head};
  net.train();
  nn::FlatParameters<float, cpu> params(both);
  train::SGD<float, cpu> sgd(params, train::SGDOptions{0.1, 0.9, 0.0, 5e-4, false});
  dist::DataParallelOptions dpo;
  if (bucket_kib > 0) dpo.bucket_bytes = bucket_kib << 10;
  dist::DataParallel<float, cpu> ddp(comm, params, dpo);
  ddp.broadcast_model(both);
  Tensor<float, cpu> x(Shape{b, 3, 112, 96});
  Generator g(comm.rank() + 1);
  init::uniform(x, g, -1, 1);
  std::vector<int64_t> y;
  for (int64_t i = 0; i < b; ++i) y.push_back(g.integer(0, 999));
  double sync_s = 0;
  auto start = std::chrono::steady_clock::now();
  for (int s = -1; s < steps; ++s) {  // step -1 warms up
    if (s == 0) comm.barrier(), start = std::chrono::steady_clock::now(), sync_s = 0;
    sgd.zero_grad();
    const auto out = head.forward(net.forward(x), y);
    if (overlap) {
      auto during_backward = ddp.overlap_backward();
      net.backward(head.backward());
    } else {
      net.backward(head.backward());
    }
    const auto t0 = std::chrono::steady_clock::now();
    ddp.sync_gradients();
    sync_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sgd.step();
    (void)out;
  }
  comm.barrier();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (comm.rank() == 0)
    std::printf("train ranks %d local_batch %lld steps %d overlap %d buckets %zu (early %lld): %.2f samples/s (%.3f s/step, "
                "wait after backward %.1f%%)\n",
                comm.size(), static_cast<long long>(b), steps, overlap ? 1 : 0, ddp.buckets().size(),
                static_cast<long long>(ddp.buckets_launched_early()), comm.size() * b * steps / s, s / steps,
                100.0 * sync_s / s);
  return 0;
}

int run_head(dist::MpiCommunicator& comm, int64_t classes, double rate, int64_t b) {
  using Policy = recognition::CurricularFace;
  const int64_t d = 512, W = comm.size();
  const double before = rss("VmRSS:");
  dist::PartialFCOptions o;
  o.sample_rate = rate;
  dist::PartialFC<Policy, float, cpu> pfc(comm, d, classes, Policy{}, o);
  nn::FlatParameters<float, cpu> params(pfc);
  train::SGD<float, cpu> sgd(params, train::SGDOptions{0.1, 0.9, 0.0, 5e-4, false});
  // FlatParameters briefly holds the parameters twice while it moves them: report that apart and
  // try to measure the step's peak from here (writing 5 to clear_refs resets VmHWM where the
  // kernel allows it; in this container it does not, so the peak includes the construction).
  const double construction = rss() - before;
  std::ofstream("/proc/self/clear_refs") << "5";
  Tensor<float, cpu> e(Shape{b, d});
  Generator g(comm.rank() + 1);
  init::normal(e, g, 0.0, 1.0);
  std::vector<int64_t> y;
  for (int64_t i = 0; i < b; ++i) y.push_back(g.integer(0, classes - 1));
  const auto start = std::chrono::steady_clock::now();
  const auto out = pfc.forward(e, y);
  pfc.backward();
  sgd.step();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double measured = rss() - before;
  // Computed: weight, grad and momentum of the local rows (3 n d); normalised class vectors and their
  // gradient (2 S d), plus the gathered rows and their scattered gradient when sampling (4 S d);
  // cosines, logits, dfdc and dL/dcos (4 N S); global embeddings, normalised, dL/de_hat, dL/dE (4 N d).
  const double n = static_cast<double>(pfc.class_range_of_rank().count), S = static_cast<double>(out.sampled_classes);
  const double N = static_cast<double>(W * b);
  const double computed = 4.0 * (3 * n * d + S * d * (rate < 1 ? 4 : 2) + 4 * N * S + 4 * N * d);
  std::vector<double> v{measured, computed, construction};
  std::vector<double> mx = v;
  dist::all_reduce_values<cpu>(comm, mx, dist::ReduceOp::max);
  if (comm.rank() == 0)
    std::printf("head classes %lld rate %.2f ranks %lld batch/rank %lld: local classes %.0f, sampled %.0f; "
                "per rank computed %.1f MiB, measured peak %.1f MiB (construction transient %.1f MiB; "
                "max over ranks); step %.2f s\n",
                static_cast<long long>(classes), rate, static_cast<long long>(W), static_cast<long long>(b), n, S,
                mx[1] / 1048576.0, mx[0] / 1048576.0, mx[2] / 1048576.0, secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiEnvironment env(&argc, &argv);
  dist::MpiCommunicator comm;
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "train" && (argc == 4 || argc == 6))
      return run_train(comm, std::atoi(argv[2]), std::atoll(argv[3]), argc == 6 && std::atoi(argv[4]) != 0,
                       argc == 6 ? std::atoll(argv[5]) : 0);
    if (mode == "head" && argc == 5) return run_head(comm, std::atoll(argv[2]), std::atof(argv[3]), std::atoll(argv[4]));
    std::fprintf(stderr, "usage: bench_dist train STEPS LOCAL_BATCH [OVERLAP BUCKET_KIB] | head CLASSES RATE BATCH\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    comm.abort(1);
  }
}
