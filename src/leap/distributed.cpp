// distributed.cpp — see distributed.h. The only translation unit that includes c10d.
#include "leap/distributed.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef LEAP_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <cerrno>
#include <cstdlib>

#include "base/error.h"

namespace leap {

namespace {

// Integer environment variable; `def` when unset. Errors name the variable and its value.
long env_int(const char* name, long def, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    fail("environment variable %s=\"%s\" is not an integer in [%ld, %ld]", name, v, lo, hi);
  return x;
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world = int(env_int("WORLD_SIZE", 1, 1, 1 << 20));
  e.rank = int(env_int("RANK", 0, 0, 1 << 20));
  if (e.rank >= e.world) fail("environment: RANK=%d is not below WORLD_SIZE=%d", e.rank, e.world);
  e.local_rank = int(env_int("LOCAL_RANK", e.rank, 0, 1 << 20));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a)
    e.master_addr = a;
  else if (e.world > 1)
    fail("environment: WORLD_SIZE=%d but MASTER_ADDR is not set (launch with torchrun or scripts/launch.sh)", e.world);
  e.master_port = int(env_int("MASTER_PORT", -1, 1, 65535));
  if (e.master_port < 0) {
    if (e.world > 1)
      fail("environment: WORLD_SIZE=%d but MASTER_PORT is not set (launch with torchrun or scripts/launch.sh)",
           e.world);
    e.master_port = 29500;
  }
  if (const char* s = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) e.agent_store = std::string(s) == "True";
  return e;
}

std::string resolve_dist_backend(const std::string& requested, bool cuda) {
  if (requested == "auto") return cuda ? "nccl" : "gloo";
  if (requested == "gloo") return requested;
  if (requested == "nccl") {
#ifdef LEAP_WITH_NCCL
    if (!cuda) fail("--dist_backend nccl needs a CUDA device (use gloo on CPU)");
    return requested;
#else
    fail("--dist_backend nccl: this build of leap has no NCCL (LibTorch without CUDA); use gloo");
#endif
  }
  fail("--dist_backend must be auto, gloo or nccl (got \"%s\")", requested.c_str());
}

struct Comm::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;
};

namespace {

c10::intrusive_ptr<c10d::Backend> make_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int world,
                                               const std::string& backend, std::chrono::milliseconds timeout,
                                               const std::string& host, int device_index) {
  if (backend == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(host.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                         : c10d::ProcessGroupGloo::createDeviceForHostname(host));
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
  }
#ifdef LEAP_WITH_NCCL
  if (backend == "nccl") {
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)
        ->setDevice(c10::Device(c10::kCUDA, c10::DeviceIndex(device_index)));
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
  }
#endif
  fail("distributed backend \"%s\" is not available in this build", backend.c_str());
}

DistWork wrap(c10::intrusive_ptr<c10d::Work> w) {
  return DistWork([w] { w->wait(); });
}

}  // namespace

Comm::Comm(const DistEnv& env, const std::string& backend, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()), rank_(env.rank), world_(env.world), backend_(backend) {
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.master_port);
    so.isServer = env.rank == 0 && !env.agent_store;
    so.numWorkers = size_t(env.world);
    so.waitWorkers = !env.agent_store;  // clients count themselves in inside waitForWorkers()
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("leap", tcp);
    // Gloo binds to the loopback address when the master is local, else to this host's name
    bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    impl_->pg = make_backend(impl_->store, rank_, world_, backend, timeout, local ? "127.0.0.1" : "", env.local_rank);
    device_index_ = env.local_rank;
  } catch (const c10::Error& e) {
    fail("rank %d of %d: joining the %s process group at %s:%d failed: %s", env.rank, env.world, backend.c_str(),
         env.master_addr.c_str(), env.master_port, e.what_without_backtrace());
  }
}

Comm::Comm(const std::string& store_path, int rank, int world, const std::string& backend, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()), rank_(rank), world_(world), backend_(backend) {
  try {
    impl_->store = c10::make_intrusive<c10d::FileStore>(store_path, world);
    impl_->store->setTimeout(timeout);
    impl_->pg = make_backend(impl_->store, rank, world, backend, timeout, "127.0.0.1", 0);
  } catch (const c10::Error& e) {
    fail("rank %d of %d: joining the %s process group through %s failed: %s", rank, world, backend.c_str(),
         store_path.c_str(), e.what_without_backtrace());
  }
}

Comm::~Comm() = default;

DistWork Comm::allreduce_sum_async(const torch::Tensor& t) {
  std::vector<at::Tensor> v{t};
  return wrap(impl_->pg->allreduce(v));
}

DistWork Comm::reduce_scatter_sum_async(const torch::Tensor& out, const torch::Tensor& in) {
  LEAP_CHECK(in.numel() == out.numel() * world_, "reduce-scatter: input of %lld elements for output of %lld x %d ranks",
             (long long)in.numel(), (long long)out.numel(), world_);
  at::Tensor o = out, i = in;
  return wrap(impl_->pg->_reduce_scatter_base(o, i));
}

DistWork Comm::all_gather_async(const torch::Tensor& out, const torch::Tensor& in) {
  LEAP_CHECK(out.numel() == in.numel() * world_, "all-gather: output of %lld elements for input of %lld x %d ranks",
             (long long)out.numel(), (long long)in.numel(), world_);
  at::Tensor o = out, i = in;
  return wrap(impl_->pg->_allgather_base(o, i));
}

void Comm::broadcast(const torch::Tensor& t, int root) {
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions bo;
  bo.rootRank = root;
  impl_->pg->broadcast(v, bo)->wait();
}

void Comm::barrier() {
  if (backend_ == "gloo") {
    impl_->pg->barrier()->wait();
  } else {  // NCCL's barrier needs a device; a one-element all-reduce is the same synchronisation
    allreduce_sum(
        torch::zeros({1}, torch::TensorOptions().device(torch::Device(torch::kCUDA, c10::DeviceIndex(device_index_)))));
  }
}

}  // namespace leap
