// tensor_io.cpp — see tensor_io.h.
#include "io/tensor_io.h"

#include <cstring>

#include "base/error.h"

namespace leap {

torch::Dtype to_torch_dtype(st::DType d) {
  switch (d) {
    case st::DType::F64:
      return torch::kFloat64;
    case st::DType::F32:
      return torch::kFloat32;
    case st::DType::F16:
      return torch::kFloat16;
    case st::DType::BF16:
      return torch::kBFloat16;
    case st::DType::I64:
      return torch::kInt64;
    case st::DType::I32:
      return torch::kInt32;
    case st::DType::I16:
      return torch::kInt16;
    case st::DType::I8:
      return torch::kInt8;
    case st::DType::U8:
      return torch::kUInt8;
    case st::DType::BOOL:
      return torch::kBool;
  }
  return torch::kFloat32;
}

st::DType to_st_dtype(torch::Dtype d) {
  switch (d) {
    case torch::kFloat64:
      return st::DType::F64;
    case torch::kFloat32:
      return st::DType::F32;
    case torch::kFloat16:
      return st::DType::F16;
    case torch::kBFloat16:
      return st::DType::BF16;
    case torch::kInt64:
      return st::DType::I64;
    case torch::kInt32:
      return st::DType::I32;
    case torch::kInt16:
      return st::DType::I16;
    case torch::kInt8:
      return st::DType::I8;
    case torch::kUInt8:
      return st::DType::U8;
    case torch::kBool:
      return st::DType::BOOL;
    default:
      fail("dtype %s cannot be stored in safetensors", c10::toString(d));
  }
}

torch::Tensor read_tensor(const st::Reader& ckpt, const std::string& name) {
  const st::File& f = ckpt.file_of(name);
  const st::TensorInfo& ti = f.info(name);
  const uint8_t* ptr = f.data(name);
  auto opt = torch::TensorOptions().dtype(to_torch_dtype(ti.dtype));
  if (reinterpret_cast<uintptr_t>(ptr) % st::dtype_size(ti.dtype) == 0) {
    auto keep = f.mapping();
    return torch::from_blob(
        const_cast<uint8_t*>(ptr), ti.shape, [keep](void*) {}, opt);
  }
  torch::Tensor t = torch::empty(ti.shape, opt);
  std::memcpy(t.data_ptr(), ptr, ti.end - ti.begin);
  return t;
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep;
  std::vector<st::OutTensor> out;
  keep.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    keep.push_back(t.detach().to(torch::kCPU).contiguous());
    const torch::Tensor& c = keep.back();
    out.push_back({name, to_st_dtype(c.scalar_type()), c.sizes().vec(), c.data_ptr(), uint64_t(c.nbytes())});
  }
  st::write_file(path, out, metadata);
}

}  // namespace leap
