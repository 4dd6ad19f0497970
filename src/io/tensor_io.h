// tensor_io.h — safetensors ↔ torch tensors (the torch side of safetensors.h).
#pragma once
#include <map>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace leap {

torch::Dtype to_torch_dtype(st::DType d);
st::DType to_st_dtype(torch::Dtype d);  // throws for dtypes safetensors cannot hold

// A CPU tensor over the bytes of `name` in `ckpt`. It aliases the memory map when the data is
// aligned (read-only: copy before writing) and is a copy otherwise; either way it keeps the
// mapping alive for as long as it lives.
torch::Tensor read_tensor(const st::Reader& ckpt, const std::string& name);

// Writes tensors (any device, any supported dtype; made contiguous on the CPU) atomically.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace leap
