// device.h — run-time device choice: "auto" (cuda when available, else cpu), "cpu", "cuda",
// "cuda:N". Requesting CUDA on a machine without it is an error, never a silent fallback.
#pragma once
#include <string>
#include <torch/torch.h>

namespace leap {
torch::Device parse_device(const std::string& spec);
// Default model dtype for a device when the user does not choose: float32 on CPU (bf16 matmul is
// slow and inexact on many CPUs), bfloat16 on CUDA.
torch::Dtype default_dtype(const torch::Device& d);
}  // namespace leap
