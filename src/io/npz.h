// npz.h — NumPy's .npz archives (np.savez / np.savez_compressed): a zip of .npy files, read
// without Python. The zip reader follows the central directory (zip64 sizes and offsets
// included), inflates deflated members with zlib and checks every member's CRC-32; the .npy
// reader parses format versions 1–3 (magic, little-endian header length, the header's Python
// dict literal) and checks that the data size equals shape × item size. Every size is bounded by
// the file before anything is allocated from it, and every error names the file and the member.
//
// Not here: what the arrays mean (io/mask_file.h reads the LEAP reference's mask.npz); writing
// archives; pickled object arrays (refused, as np.load(allow_pickle=False) refuses them).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace leap {

struct NpyArray {
  std::string descr;           // NumPy's dtype string: "|u1", "<i8", "<U42", "|b1", ...
  std::vector<int64_t> shape;  // () for a 0-d array
  bool fortran_order = false;
  std::vector<uint8_t> data;  // the raw bytes, C order unless fortran_order
  int64_t numel() const;
  size_t item_size() const;  // bytes per element of descr
};

// Parses one .npy file's bytes. `context` names it in errors ("mask.npz: member x.npy").
NpyArray parse_npy(const uint8_t* p, size_t n, const std::string& context);

// Every member of an .npz archive by its key (the member's name without ".npy", as np.load
// names them). Members that are not .npy files are errors.
std::map<std::string, NpyArray> read_npz(const std::string& path);

// A 0-d or 1-element "<U…" array (NumPy's UTF-32 string) as UTF-8, trailing NULs removed.
std::string npy_string(const NpyArray& a, const std::string& context);

}  // namespace leap
