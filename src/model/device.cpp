// device.cpp — see device.h.
#include "model/device.h"

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

}  // namespace leap
