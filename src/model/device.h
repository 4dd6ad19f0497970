// device.h — run-time device choice: "auto" (cuda when available, else cpu), "cpu", "cuda",
// "cuda:N". Requesting CUDA on a machine without it is an error, never a silent fallback. And the
// device's caching-allocator memory figures (what torch.cuda.memory_allocated / max_memory_* say).
#pragma once
#include <string>
#include <torch/torch.h>

namespace leap {
torch::Device parse_device(const std::string& spec);
// Default model dtype for a device when the user does not choose: float32 on CPU (bf16 matmul is
// slow and inexact on many CPUs), bfloat16 on CUDA.
torch::Dtype default_dtype(const torch::Device& d);

// A device's caching-allocator figures in MiB: allocated = held by live tensors, reserved = taken
// from the driver (allocated + the cache); peaks since reset_device_peaks. All zero on the CPU
// (the host side is the resident set size, which the trainer reports separately).
struct DeviceMemory {
  double allocated_mib = 0, peak_allocated_mib = 0, reserved_mib = 0, peak_reserved_mib = 0;
};
DeviceMemory device_memory(const torch::Device& d);
void reset_device_peaks(const torch::Device& d);

// CPU arithmetic: flush-to-zero and denormals-are-zero (x86's MXCSR) on (or off) on the calling
// thread and on every LibTorch intra-op thread (threads made later inherit the caller's setting).
// Late in LEAP training most masks saturate (M ~ 1e-35) and their products underflow; without this
// every underflow costs a microcode assist and a step gets several times slower. With it, values
// below 1.2e-38 become 0. The leap binary and leap_bench turn it on at start (a process-wide choice,
// as torch.set_flush_denormal is). Returns false on CPUs without these modes (nothing changes).
bool flush_cpu_denormals(bool on = true);
}  // namespace leap
