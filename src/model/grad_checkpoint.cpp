// grad_checkpoint.cpp — see grad_checkpoint.h.
#include "model/grad_checkpoint.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

namespace leap {
using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

struct BlockCall {
  CausalLMImpl* model;
  int64_t layer;
  const std::pair<RopeTables, RopeTables>* rope;
  std::vector<Linear> linears;    // the block's masked linears, in mask order
  std::vector<LinearMask> masks;  // their masks (θ leaves inside)
};

Tensor run_block(BlockCall& c, const Tensor& h, const std::vector<LinearMask>& masks) {
  for (size_t i = 0; i < c.linears.size(); ++i) c.linears[i]->mask = masks[i];
  Tensor out = c.model->run_layer(c.layer, h, *c.rope);
  for (auto& l : c.linears) l->mask = LinearMask();
  return out;
}

// Sets one device type's autocast state for a scope and restores the previous one: the re-run in
// backward must compute as the forward did, and the engine's backward thread (CUDA) has autocast off.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType dev, bool on, c10::ScalarType dt)
      : dev_(dev), was_on_(at::autocast::is_autocast_enabled(dev)), was_dt_(at::autocast::get_autocast_dtype(dev)) {
    at::autocast::set_autocast_enabled(dev_, on);
    at::autocast::set_autocast_dtype(dev_, dt);
  }
  ~AutocastScope() {
    if (!was_on_ && at::autocast::is_autocast_enabled(dev_)) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(dev_, was_on_);
    at::autocast::set_autocast_dtype(dev_, was_dt_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType dev_;
  bool was_on_;
  c10::ScalarType was_dt_;
};

class BlockRecomputeFn : public torch::autograd::Function<BlockRecomputeFn> {
 public:
  // the θ leaves arrive as a TensorList so that autograd counts each one as a differentiable input
  static Tensor forward(AutogradContext* ctx, const Tensor& h, at::TensorList thetas, int64_t call_ptr) {
    auto* call = reinterpret_cast<BlockCall*>(call_ptr);
    ctx->save_for_backward({h});
    ctx->saved_data["call"] = call_ptr;
    ctx->saved_data["h_grad"] = h.requires_grad();  // saved variables come back without this flag
    const auto dev = h.device().type();             // the forward's autocast state, for the re-run
    ctx->saved_data["autocast"] = at::autocast::is_autocast_enabled(dev);
    ctx->saved_data["autocast_dtype"] = int64_t(at::autocast::get_autocast_dtype(dev));
    (void)thetas;
    return run_block(*call, h, call->masks);  // no graph is recorded here: no activations are kept
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* call = reinterpret_cast<BlockCall*>(ctx->saved_data["call"].toInt());
    variable_list saved = ctx->get_saved_variables();
    torch::AutoGradMode enable(true);
    Tensor h = saved[0].detach().requires_grad_(ctx->saved_data["h_grad"].toBool());
    std::vector<LinearMask> masks = call->masks;  // the forward's masks, with fresh θ leaves to differentiate
    variable_list inputs;
    if (h.requires_grad()) inputs.push_back(h);
    for (auto& m : masks) inputs.push_back(m.theta = m.theta.detach().requires_grad_(true));
    AutocastScope autocast(h.device().type(), ctx->saved_data["autocast"].toBool(),
                           c10::ScalarType(ctx->saved_data["autocast_dtype"].toInt()));
    Tensor out = run_block(*call, h, masks);  // the re-run, under the forward's autocast state
    // allow_unused: a mask that adds dL/dθ into its gradient itself (device_mask.h) returns none
    variable_list g = torch::autograd::grad({out}, inputs, {grads[0]}, /*retain_graph=*/std::nullopt,
                                            /*create_graph=*/false, /*allow_unused=*/true);
    variable_list result;
    size_t k = 0;
    result.push_back(h.requires_grad() ? g[k++] : Tensor());
    for (size_t i = 0; i < masks.size(); ++i) result.push_back(g[k++]);
    result.push_back(Tensor());  // call_ptr
    return result;
  }
};

}  // namespace

namespace {
// The call records must outlive backward (the graph holds only their address): a thread-local list,
// cleared when a new forward of block 0 starts or by release_recomputed_blocks().
std::vector<std::unique_ptr<BlockCall>>& records() {
  static thread_local std::vector<std::unique_ptr<BlockCall>> pool;
  return pool;
}
}  // namespace

void release_recomputed_blocks() {
  records().clear();
}
size_t recomputed_block_records() {
  return records().size();
}

Tensor recomputed_block(CausalLMImpl& m, int64_t layer, const Tensor& h, const std::vector<LinearMask>& masks,
                        const std::pair<RopeTables, RopeTables>& rope) {
  auto& pool = records();
  if (layer == 0) pool.clear();  // a new forward: the previous one's backward is done
  auto call = std::make_unique<BlockCall>();
  call->model = &m;
  call->layer = layer;
  call->rope = &rope;
  for (const auto& l : m.block_linears(layer)) call->linears.push_back(l.linear);
  call->masks = masks;
  std::vector<Tensor> thetas;
  for (const auto& mk : masks) thetas.push_back(mk.theta);
  int64_t ptr = reinterpret_cast<int64_t>(call.get());
  pool.push_back(std::move(call));
  return BlockRecomputeFn::apply(h, at::TensorList(thetas), ptr);
}

}  // namespace leap
