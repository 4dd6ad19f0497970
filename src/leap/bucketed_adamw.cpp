// bucketed_adamw.cpp — see bucketed_adamw.h.
#include "leap/bucketed_adamw.h"

#include <cmath>
#include <deque>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "base/error.h"
#include "leap/adamw_8bit.h"

namespace leap {
using torch::Tensor;

namespace {
struct Bucket {
  int64_t lo = 0, hi = 0;  // masked linears [lo, hi) in layer order
  int64_t size = 0, padded = 0;
  Tensor theta, grad;          // [padded]: θ in its dtype, the gradient in float32; per-linear views of these
  Tensor theta_own, grad_own;  // this rank's slice ([padded / shards]); replicated: the whole bucket
  Tensor master, m, v;         // float32 [padded / shards]; master only when θ is not float32
  Moment8bit m8, v8;           // instead of m, v with 8-bit moments
  int pending = 0;
  bool launched = false;
  DistWork work;
};

// LibTorch's fused AdamW (CPU and CUDA) takes parameter, gradient and moments of one dtype,
// contiguous, on one device: float32 here (the float32 master copy when the logits are bfloat16).
bool fused_ok(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  for (const Tensor* t : {&p, &g, &m, &v})
    if (t->scalar_type() != torch::kFloat32 || !t->is_contiguous() || t->device() != p.device()) return false;
  return p.is_cpu() || p.is_cuda();
}
}  // namespace

struct BucketedAdamW::Impl {
  BucketedAdamWOptions o;
  torch::Dtype dtype;
  torch::Device dev;
  Comm* comm = nullptr;
  int world = 1, rank = 0, shards = 1;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<Bucket> buckets;
  std::vector<int> bucket_of;
  std::vector<int64_t> offset_of;  // offset of each linear inside its bucket
  bool armed = false;
  std::deque<std::function<void()>> ready_calls;  // per linear: ready(i), for backwards that add into the bucket
  std::vector<char> reported;                     // per linear: ready() seen since arm_reduction()
  // scratch of the largest bucket slice, reused bucket after bucket: float32 for √v̂ + ε and the
  // squared gradient, and two all-gather send buffers (sharded: the slice must not alias the
  // gather output; bucket k reuses bucket k−2's once it is sent)
  Tensor scratch_f32, send[2];
  Tensor step_count;  // the fused kernel's step t, a float32 scalar on the device

  Impl(torch::Dtype d, torch::Device v) : dtype(d), dev(v) {}
  // a linear's region in its bucket: its numel, rounded up to whole 8-bit blocks when the moments are 8-bit
  int64_t region(int64_t numel) const {
    const int64_t a = o.moments_8bit ? kMoment8bitBlock : 1;
    return (numel + a - 1) / a * a;
  }
  bool multi() const { return world > 1; }
  Tensor own(const Tensor& full) const { return shards > 1 ? full.view({shards, -1})[rank] : full; }

  void launch(Bucket& b) {
    if (b.launched) return;
    b.launched = true;
    if (!multi()) return;
    b.work = shards > 1 ? comm->reduce_scatter_sum_async(b.grad_own, b.grad) : comm->allreduce_sum_async(b.grad);
  }
  // linear idx's gradient is complete for this step: once per linear (a backward that adds into the
  // bucket itself reports, and autograd's hook on its leaf may fire as well, with no gradient)
  void ready(int idx) {
    if (!armed || reported[size_t(idx)]) return;
    reported[size_t(idx)] = 1;
    Bucket& b = buckets[size_t(bucket_of[size_t(idx)])];
    if (--b.pending == 0) launch(b);
  }
  Tensor gather_own(const Tensor& x, int64_t padded) {  // [padded / shards] → [padded] (collective)
    if (shards == 1) return x;
    Tensor out = torch::empty({padded}, x.options());
    comm->all_gather(out, x.contiguous());
    return out;
  }
};

namespace {
struct ReadyHook : torch::autograd::PostAccumulateGradHook {
  BucketedAdamW::Impl* impl;
  int idx;
  ReadyHook(BucketedAdamW::Impl* i, int k) : impl(i), idx(k) {}
  void operator()(const torch::autograd::Variable&) override { impl->ready(idx); }
};
}  // namespace

BucketedAdamW::BucketedAdamW(const std::vector<std::vector<int64_t>>& shapes, torch::Dtype dtype, torch::Device dev,
                             const BucketedAdamWOptions& o, Comm* comm)
    : impl_(std::make_unique<Impl>(dtype, dev)) {
  Impl& I = *impl_;
  I.o = o;
  I.shapes = shapes;
  I.comm = comm;
  I.world = comm ? comm->world() : 1;
  I.rank = comm ? comm->rank() : 0;
  LEAP_CHECK(!o.shard || comm, "--shard_optimizer needs a distributed launch (WORLD_SIZE > 1)");
  I.shards = o.shard ? I.world : 1;
  LEAP_CHECK(o.bucket_mib > 0, "--bucket_mib must be positive");
  const int64_t n = int64_t(shapes.size());
  std::vector<int64_t> numels;
  for (const auto& s : shapes) {
    int64_t k = 1;
    for (int64_t d : s) k *= d;
    numels.push_back(k);
    numel_ += k;
  }
  // buckets from the last linear backwards (the order backward finishes them)
  const int64_t elem = int64_t(torch::elementSize(dtype));
  const int64_t target = std::max<int64_t>(1, int64_t(o.bucket_mib * 1024 * 1024) / elem);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t hi = n; hi > 0;) {
    int64_t lo = hi, sz = 0;
    while (lo > 0 && (sz == 0 || sz + numels[size_t(lo - 1)] <= target)) sz += numels[size_t(--lo)];
    ranges.push_back({lo, hi});
    hi = lo;
  }
  I.bucket_of.assign(size_t(n), 0);
  I.offset_of.assign(size_t(n), 0);
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  for (auto [lo, hi] : ranges) {
    Bucket b;
    b.lo = lo;
    b.hi = hi;
    for (int64_t i = lo; i < hi; ++i) {
      I.bucket_of[size_t(i)] = int(I.buckets.size());
      I.offset_of[size_t(i)] = b.size;
      b.size += I.region(numels[size_t(i)]);
    }
    const int64_t unit = I.shards * (o.moments_8bit ? kMoment8bitBlock : 1);  // whole blocks in every slice
    b.padded = (b.size + unit - 1) / unit * unit;
    b.theta = torch::zeros({b.padded}, torch::TensorOptions().dtype(dtype).device(dev));
    b.grad = torch::zeros({b.padded}, f32);
    b.theta_own = I.own(b.theta);
    b.grad_own = I.shards > 1 ? torch::zeros({b.padded / I.shards}, b.grad.options()) : b.grad;
    const int64_t own_n = b.padded / I.shards;
    if (dtype != torch::kFloat32) b.master = torch::zeros({own_n}, f32);
    if (o.moments_8bit) {
      b.m8 = Moment8bit::zeros(own_n, /*is_signed=*/true, dev);
      b.v8 = Moment8bit::zeros(own_n, /*is_signed=*/false, dev);
    } else {
      b.m = torch::zeros({own_n}, f32);
      b.v = torch::zeros({own_n}, f32);
    }
    I.buckets.push_back(std::move(b));
  }
  int64_t own_max = 0;
  for (const auto& b : I.buckets) own_max = std::max(own_max, b.padded / I.shards);
  I.scratch_f32 = torch::empty({own_max}, f32);
  if (I.shards > 1)
    for (auto& t : I.send) t = torch::empty({own_max}, torch::TensorOptions().dtype(dtype).device(dev));
  params_.resize(size_t(n));
  leaves_.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    Bucket& b = I.buckets[size_t(I.bucket_of[size_t(i)])];
    const int64_t off = I.offset_of[size_t(i)];
    params_[size_t(i)] = b.theta.narrow(0, off, numels[size_t(i)]).view(shapes[size_t(i)]).detach();
    const std::vector<int64_t> zero_strides(shapes[size_t(i)].size(), 0);
    Tensor leaf = torch::zeros({1}, f32).as_strided(shapes[size_t(i)], zero_strides).detach().requires_grad_(true);
    leaf.mutable_grad() = b.grad.narrow(0, off, numels[size_t(i)]).view(shapes[size_t(i)]);
    if (I.multi()) {
      torch::autograd::impl::set_post_acc_grad_hooks(leaf, std::make_unique<ReadyHook>(impl_.get(), int(i)));
      I.ready_calls.emplace_back([impl = impl_.get(), k = int(i)] { impl->ready(k); });
    }
    leaves_[size_t(i)] = leaf;
  }
}

BucketedAdamW::~BucketedAdamW() = default;

const std::function<void()>* BucketedAdamW::grad_ready(size_t i) const {
  const Impl& I = *impl_;
  return I.multi() ? &I.ready_calls[i] : nullptr;
}

void BucketedAdamW::set_theta(const std::vector<Tensor>& theta) {
  Impl& I = *impl_;
  LEAP_CHECK(theta.size() == params_.size(), "set_theta: %zu tensors for %zu masked linears", theta.size(),
             params_.size());
  torch::NoGradGuard ng;
  for (auto& b : I.buckets) {
    Tensor full = torch::zeros({b.padded}, torch::TensorOptions().dtype(torch::kFloat32).device(I.dev));
    for (int64_t i = b.lo; i < b.hi; ++i)
      full.narrow(0, I.offset_of[size_t(i)], params_[size_t(i)].numel()).copy_(theta[size_t(i)].reshape({-1}));
    b.theta.copy_(full);
    if (b.master.defined()) b.master.copy_(I.own(full));
  }
}

void BucketedAdamW::set_moments(const AdamMoments& mo) {
  Impl& I = *impl_;
  const size_t n = params_.size();
  LEAP_CHECK(mo.exp_avg.size() == n && mo.exp_avg_sq.size() == n, "set_moments: %zu / %zu moments for %zu linears",
             mo.exp_avg.size(), mo.exp_avg_sq.size(), n);
  LEAP_CHECK(!mo.quantized() || (I.o.moments_8bit && mo.exp_avg_scale.size() == n && mo.exp_avg_sq_scale.size() == n),
             "set_moments: 8-bit moments (codes and scales) for an optimizer with float32 moments");
  torch::NoGradGuard ng;
  const int64_t B = kMoment8bitBlock;
  for (auto& b : I.buckets) {
    for (int k = 0; k < 2; ++k) {
      const std::vector<Tensor>& src = k == 0 ? mo.exp_avg : mo.exp_avg_sq;
      if (mo.quantized()) {  // codes and scales, linear by linear into the bucket's blocks
        const std::vector<Tensor>& scl = k == 0 ? mo.exp_avg_scale : mo.exp_avg_sq_scale;
        Moment8bit& q = k == 0 ? b.m8 : b.v8;
        Moment8bit full = Moment8bit::zeros(b.padded, q.is_signed, I.dev);
        for (int64_t i = b.lo; i < b.hi; ++i) {
          const int64_t off = I.offset_of[size_t(i)], r = I.region(params_[size_t(i)].numel());
          LEAP_CHECK(src[size_t(i)].numel() == r && scl[size_t(i)].numel() == r / B,
                     "set_moments: linear %lld has %lld codes and %lld scales, expected %lld and %lld", (long long)i,
                     (long long)src[size_t(i)].numel(), (long long)scl[size_t(i)].numel(), (long long)r,
                     (long long)(r / B));
          full.codes.narrow(0, off, r).copy_(src[size_t(i)].reshape({-1}));
          full.scale.narrow(0, off / B, r / B).copy_(scl[size_t(i)].reshape({-1}));
        }
        q.codes.copy_(I.own(full.codes));
        q.scale.copy_(I.own(full.scale));
        continue;
      }
      Tensor full = torch::zeros({b.padded}, torch::TensorOptions().dtype(torch::kFloat32).device(I.dev));
      for (int64_t i = b.lo; i < b.hi; ++i)
        full.narrow(0, I.offset_of[size_t(i)], params_[size_t(i)].numel()).copy_(src[size_t(i)].reshape({-1}));
      if (I.o.moments_8bit)
        quantize_moment(I.own(full), k == 0 ? b.m8 : b.v8);
      else
        (k == 0 ? b.m : b.v).copy_(I.own(full));
    }
  }
}

void BucketedAdamW::gather(std::vector<Tensor>* theta, AdamMoments* mo, bool copy) {
  Impl& I = *impl_;
  torch::NoGradGuard ng;
  if (!copy && I.shards == 1) return;  // nothing to take part in
  const bool q8 = I.o.moments_8bit;
  const int64_t B = kMoment8bitBlock;
  const size_t n = params_.size();
  if (copy) {
    if (theta) theta->assign(n, Tensor());
    if (mo)
      *mo = AdamMoments{std::vector<Tensor>(n), std::vector<Tensor>(n),
                        q8 ? std::vector<Tensor>(n) : std::vector<Tensor>{},
                        q8 ? std::vector<Tensor>(n) : std::vector<Tensor>{}};
  }
  auto to_host = [](const Tensor& x) { return x.to(torch::kCPU, x.scalar_type(), false, true); };
  for (auto& b : I.buckets) {
    Tensor th;
    if (theta) th = b.master.defined() ? I.gather_own(b.master, b.padded) : (copy ? b.theta : Tensor());
    Tensor m, v, ms, vs;  // whole buckets: float32, or codes and scales
    if (mo) {
      m = I.gather_own(q8 ? b.m8.codes : b.m, b.padded);
      v = I.gather_own(q8 ? b.v8.codes : b.v, b.padded);
      if (q8) {
        ms = I.gather_own(b.m8.scale, b.padded / B);
        vs = I.gather_own(b.v8.scale, b.padded / B);
      }
    }
    if (!copy) continue;
    for (int64_t i = b.lo; i < b.hi; ++i) {
      const int64_t off = I.offset_of[size_t(i)], k = params_[size_t(i)].numel(), r = I.region(k);
      const auto& shape = I.shapes[size_t(i)];
      if (theta) (*theta)[size_t(i)] = th.narrow(0, off, k).view(shape).to(torch::kCPU, torch::kFloat32, false, true);
      if (!mo) continue;
      if (q8) {
        mo->exp_avg[size_t(i)] = to_host(m.narrow(0, off, r));
        mo->exp_avg_sq[size_t(i)] = to_host(v.narrow(0, off, r));
        mo->exp_avg_scale[size_t(i)] = to_host(ms.narrow(0, off / B, r / B));
        mo->exp_avg_sq_scale[size_t(i)] = to_host(vs.narrow(0, off / B, r / B));
      } else {
        mo->exp_avg[size_t(i)] = to_host(m.narrow(0, off, k).view(shape));
        mo->exp_avg_sq[size_t(i)] = to_host(v.narrow(0, off, k).view(shape));
      }
    }
  }
}

void BucketedAdamW::zero_grad() {
  Impl& I = *impl_;
  for (auto& b : I.buckets) {
    b.grad.zero_();
    b.pending = int(b.hi - b.lo);
    b.launched = false;
  }
  for (size_t i = 0; i < leaves_.size(); ++i) {  // the leaves must keep accumulating into the buckets
    Bucket& b = I.buckets[size_t(I.bucket_of[i])];
    if (!leaves_[i].grad().defined() || !leaves_[i].grad().is_alias_of(b.grad))
      leaves_[i].mutable_grad() = b.grad.narrow(0, I.offset_of[i], params_[i].numel()).view(I.shapes[i]);
  }
  I.armed = false;
}

void BucketedAdamW::arm_reduction() {
  impl_->armed = true;
  impl_->reported.assign(impl_->shapes.size(), 0);
}

void BucketedAdamW::finish_reduction() {
  Impl& I = *impl_;
  for (auto& b : I.buckets) I.launch(b);  // buckets whose hooks did not all fire
  for (auto& b : I.buckets) b.work.wait();
  I.armed = false;
}

double BucketedAdamW::clip_grad_norm(double max_norm, Tensor* side) {
  Impl& I = *impl_;
  torch::NoGradGuard ng;
  Tensor sq = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat32).device(I.dev));
  for (auto& b : I.buckets) {
    Tensor g2 = I.scratch_f32.narrow(0, 0, b.grad_own.numel());
    sq += at::pow_out(g2, b.grad_own, 2).sum();
  }
  if (I.shards > 1) I.comm->allreduce_sum(sq);  // ‖g‖² = Σ over the slices of all ranks
  double total = 0;
  if (side) {
    Tensor host = torch::cat({sq.to(torch::kFloat64), side->to(I.dev, torch::kFloat64).reshape({-1})}).cpu();
    total = std::sqrt(host[0].item<double>());
    *side = host.slice(0, 1);
  } else {
    total = std::sqrt(sq.item<double>());
  }
  const double coef = max_norm / (total + 1e-6);  // torch.nn.utils.clip_grad_norm_
  if (coef < 1.0)
    for (auto& b : I.buckets) b.grad_own.mul_(coef);
  return total;
}

void BucketedAdamW::step(int64_t t, double lr) {
  Impl& I = *impl_;
  torch::NoGradGuard ng;
  const auto& o = I.o;
  std::vector<DistWork> works;
  for (size_t k = 0; k < I.buckets.size(); ++k) {
    Bucket& b = I.buckets[k];
    const int64_t n = b.theta_own.numel();
    const Tensor& g = b.grad_own;  // float32
    Tensor p = b.master.defined() ? b.master : b.theta_own;
    if (I.o.moments_8bit) {  // the same update with the moments kept in 8 bits (adamw_8bit.h)
      adamw_8bit_step(p, g, b.m8, b.v8, {lr, o.beta1, o.beta2, o.weight_decay, o.eps, t});
    } else {
      // LibTorch's one-pass AdamW (torch.optim's fused=True): m ← β1 m + (1−β1) g, v ← β2 v + (1−β2) g²,
      // θ ← θ(1 − lr·wd) − lr·m̂/(√v̂ + ε); the buckets are built to suit it (float32, contiguous, one device)
      if (!fused_ok(p, g, b.m, b.v))
        fail("AdamW bucket %zu: parameter, gradient and moments must be contiguous float32 on one CPU or CUDA device",
             k);
      if (!I.step_count.defined()) I.step_count = torch::zeros({}, p.options());
      I.step_count.fill_(double(t));
      at::_fused_adamw_({p}, {g}, {b.m}, {b.v}, {}, {I.step_count}, lr, o.beta1, o.beta2, o.weight_decay, o.eps,
                        /*amsgrad=*/false, /*maximize=*/false);
    }
    if (b.master.defined()) b.theta_own.copy_(b.master);
    if (I.shards > 1) {
      if (k >= 2) works[k - 2].wait();  // its send buffer is free again
      Tensor src = I.send[k % 2].narrow(0, 0, n).copy_(b.theta_own);
      works.push_back(I.comm->all_gather_async(b.theta, src));
    }
  }
  for (auto& w : works) w.wait();
}

int64_t BucketedAdamW::state_bytes() const {
  int64_t n = 0;
  for (const auto& b : impl_->buckets) {
    for (const Tensor* t : {&b.theta, &b.grad, &b.master, &b.m, &b.v})
      if (t->defined()) n += t->numel() * int64_t(t->element_size());
    if (b.m8.codes.defined()) n += b.m8.bytes() + b.v8.bytes();
    if (impl_->shards > 1) n += b.grad_own.numel() * int64_t(b.grad_own.element_size());
  }
  return n;
}

std::string BucketedAdamW::describe() const {
  const Impl& I = *impl_;
  return strformat(
      "%lld mask logits in %zu buckets (%s%s), %s", (long long)numel_, I.buckets.size(), c10::toString(I.dtype),
      I.o.moments_8bit ? ", 8-bit AdamW moments" : "",
      I.world == 1 ? "one process"
      : I.shards > 1
          ? strformat("optimizer state sharded over %d ranks (rank %d holds 1/%d)", I.world, I.rank, I.world).c_str()
          : strformat("replicated on %d ranks, gradients all-reduced per bucket", I.world).c_str());
}

}  // namespace leap
