// libFuzzer target: .npz archives (the zip reader, zlib inflation, CRC checks, the .npy parser
// and NumPy strings) — bytes as a whole archive, and the same bytes as one .npy member.
#include "fuzz_util.h"
#include "io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace leap;
  const std::string path = fuzz::put("fuzz.npz", data, size);
  fuzz::expect_clean(
      [&] {
        for (const auto& [key, a] : read_npz(path))
          if (a.descr.size() > 1 && a.descr[1] == 'U' && a.numel() == 1) npy_string(a, path + ": " + key);
      },
      path);
  fuzz::expect_clean([&] { parse_npy(data, size, "fuzz.npy"); }, "fuzz.npy");
  return 0;
}
