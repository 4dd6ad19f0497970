// device.cpp — see device.h.
#include "model/device.h"

#include <ATen/DeviceAccelerator.h>
#include <ATen/Parallel.h>
#include <c10/core/CachingDeviceAllocator.h>
#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

#include "base/error.h"

namespace leap {

torch::Device parse_device(const std::string& spec) {
  if (spec.empty() || spec == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::kCPU;
  if (spec == "cpu") return torch::kCPU;
  if (spec.rfind("cuda", 0) == 0) {
    int index = 0;
    if (spec.size() > 4) {
      if (spec[4] != ':' || spec.size() == 5 || spec.find_first_not_of("0123456789", 5) != std::string::npos)
        fail("--device \"%s\": expected cpu, cuda, cuda:N or auto", spec.c_str());
      index = std::stoi(spec.substr(5));
    }
    if (!torch::cuda::is_available())
      fail("--device %s: CUDA is not available on this machine (use --device cpu)", spec.c_str());
    int n = static_cast<int>(torch::cuda::device_count());
    if (index >= n) fail("--device %s: only %d CUDA device(s) visible", spec.c_str(), n);
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  fail("--device \"%s\": expected cpu, cuda, cuda:N or auto", spec.c_str());
}

torch::Dtype default_dtype(const torch::Device& d) {
  return d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
}

namespace {
c10::DeviceIndex index_of(const torch::Device& d) {
  return d.has_index() ? d.index() : at::accelerator::getDeviceIndex();
}
}  // namespace

DeviceMemory device_memory(const torch::Device& d) {
  if (d.is_cpu()) return {};
  const auto stats = c10::getDeviceAllocator(d.type())->getDeviceStats(index_of(d));
  const auto& a = stats.allocated_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)];
  const auto& r = stats.reserved_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)];
  constexpr double kMiB = 1024.0 * 1024.0;
  return {double(a.current) / kMiB, double(a.peak) / kMiB, double(r.current) / kMiB, double(r.peak) / kMiB};
}

void reset_device_peaks(const torch::Device& d) {
  if (!d.is_cpu()) c10::getDeviceAllocator(d.type())->resetPeakStats(index_of(d));
}

bool flush_cpu_denormals(bool on) {
#if defined(__x86_64__) || defined(__i386__)
  auto here = [on] {
    _MM_SET_FLUSH_ZERO_MODE(on ? _MM_FLUSH_ZERO_ON : _MM_FLUSH_ZERO_OFF);
    _MM_SET_DENORMALS_ZERO_MODE(on ? _MM_DENORMALS_ZERO_ON : _MM_DENORMALS_ZERO_OFF);
  };
  here();
  // one index per intra-op thread: every thread of the pool runs one (at::parallel_for splits the
  // range evenly over the team)
  const int64_t n = at::get_num_threads();
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) { here(); });
  return true;
#else
  return false;
#endif
}

}  // namespace leap
