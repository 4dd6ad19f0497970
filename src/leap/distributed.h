// distributed.h — data-parallel communication on PyTorch's own c10d engine (Gloo on CPU, NCCL on
// CUDA). Ranks are described the way torchrun describes them (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT); rank 0 hosts the TCPStore used for rendezvous unless torchrun's agent
// already does (TORCHELASTIC_USE_AGENT_STORE=True). Tests join a group through a FileStore instead.
//
// What it does: the handful of collectives leap needs (sum all-reduce, reduce-scatter, all-gather,
// broadcast, barrier), blocking or asynchronous. What it does not: pick what to communicate — the
// LEAP trainer owns the bucketing and sharding (leap_trainer.cpp, grad_sync.h).
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <torch/types.h>

namespace leap {

struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent hosts the store: every rank is a client
  bool distributed() const { return world > 1; }
};

// Reads the torchrun variables; absent WORLD_SIZE (or WORLD_SIZE=1) means one process. Bad values
// are errors naming the variable.
DistEnv dist_env_from_environment();

// A pending collective; wait() blocks until it is complete (and rethrows its error).
class DistWork {
 public:
  DistWork() = default;
  explicit DistWork(std::function<void()> wait) : wait_(std::move(wait)) {}
  void wait() {
    if (wait_) wait_();
    wait_ = nullptr;
  }

 private:
  std::function<void()> wait_;
};

class Comm {
 public:
  // Joins the process group of `env` (TCPStore rendezvous). backend: "gloo" or "nccl".
  Comm(const DistEnv& env, const std::string& backend, std::chrono::seconds timeout);
  // Joins through a FileStore at `store_path` (tests: threads or processes on one machine).
  Comm(const std::string& store_path, int rank, int world, const std::string& backend,
       std::chrono::seconds timeout = std::chrono::seconds(300));
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool main() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }

  DistWork allreduce_sum_async(const torch::Tensor& t);                                  // in place
  DistWork reduce_scatter_sum_async(const torch::Tensor& out, const torch::Tensor& in);  // in [world·n] → out [n]
  DistWork all_gather_async(const torch::Tensor& out, const torch::Tensor& in);          // in [n] → out [world·n]
  void allreduce_sum(const torch::Tensor& t) { allreduce_sum_async(t).wait(); }
  void all_gather(const torch::Tensor& out, const torch::Tensor& in) { all_gather_async(out, in).wait(); }
  void broadcast(const torch::Tensor& t, int root);  // in place
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0, world_ = 1, device_index_ = 0;
  std::string backend_;
};

// "auto" → nccl for CUDA devices, gloo otherwise; anything else is checked.
std::string resolve_dist_backend(const std::string& requested, bool cuda);

}  // namespace leap
