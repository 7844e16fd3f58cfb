#pragma once
// Data-parallel MultiBoxLoss with the normaliser of the whole global batch.
//
// MultiBoxLoss divides by the number of matched priors of its batch (N, and N1 for landmarks).
// Under plain DDP every rank divides by its own count, so averaged gradients are NOT those of one
// process on the global batch (the reference trainer behaves like that). globally_normalize()
// all-reduces the counts and rescales the gradients by W max(N_r, 1) / max(N, 1) (W undoes the
// averaging of DataParallel), which makes W ranks equal to one process on the same global batch;
// it returns the loss parts of the global batch (identical on every rank).
#include <algorithm>
#include <vector>

#include "rfcf/core/executor.hpp"
#include "rfcf/detection/multibox_loss.hpp"
#include "rfcf/dist/communicator.hpp"
#include "rfcf/dist/data_parallel.hpp"

namespace rfcf::dist {

template <class T, class D>
detection::MultiBoxLossParts<T> globally_normalize(Communicator& comm, const detection::MultiBoxLossParts<T>& local,
                                                   models::RetinaFaceOutput<T, D>& grads, double loc_weight) {
  const double n_r = static_cast<double>(std::max<int64_t>(local.num_pos, 1));
  const double n1_r = static_cast<double>(std::max<int64_t>(local.num_pos_landm, 1));
  // Loss sums (part x local normaliser) and counts, reduced in one call.
  std::vector<double> v{static_cast<double>(local.loc) * n_r,  static_cast<double>(local.conf) * n_r,
                        static_cast<double>(local.landm) * n1_r, static_cast<double>(local.num_pos),
                        static_cast<double>(local.num_pos_landm), static_cast<double>(local.num_neg)};
  all_reduce_values<D>(comm, v, ReduceOp::sum);
  const double n = std::max(v[3], 1.0), n1 = std::max(v[4], 1.0), w = comm.size();
  const T box_scale = static_cast<T>(w * n_r / n), landm_scale = static_cast<T>(w * n1_r / n1);
  Executor<D>::for_each(grads.loc.numel(), functors::Scale<T>{grads.loc.data(), box_scale});
  Executor<D>::for_each(grads.conf.numel(), functors::Scale<T>{grads.conf.data(), box_scale});
  Executor<D>::for_each(grads.landms.numel(), functors::Scale<T>{grads.landms.data(), landm_scale});
  detection::MultiBoxLossParts<T> out;
  out.loc = static_cast<T>(v[0] / n);
  out.conf = static_cast<T>(v[1] / n);
  out.landm = static_cast<T>(v[2] / n1);
  out.total = static_cast<T>(loc_weight) * out.loc + out.conf + out.landm;
  out.num_pos = static_cast<int64_t>(v[3]);
  out.num_pos_landm = static_cast<int64_t>(v[4]);
  out.num_neg = static_cast<int64_t>(v[5]);
  return out;
}

}  // namespace rfcf::dist
