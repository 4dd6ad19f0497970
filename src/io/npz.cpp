// npz.cpp — see npz.h. Zip layout: APPNOTE.TXT (PKWARE), sections 4.3.7 (local header), 4.3.12
// (central directory), 4.3.14–4.3.16 (zip64 end records), 4.5.3 (zip64 extra field). The .npy
// layout: numpy/lib/format.py.
#include "io/npz.h"

#include <algorithm>
#include <cstring>
#include <zlib.h>

#include "base/error.h"
#include "base/fs_util.h"
#include "text/unicode.h"

namespace leap {

namespace {

uint16_t u16(const uint8_t* p) {
  return uint16_t(p[0] | (p[1] << 8));
}
uint32_t u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t u64(const uint8_t* p) {
  return uint64_t(u32(p)) | (uint64_t(u32(p + 4)) << 32);
}

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kEnd64LocatorSig = 0x07064b50;

struct Member {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

// The central directory's offset and entry count, from the end record (zip64 when it says so).
void find_central_directory(const uint8_t* p, size_t n, const std::string& path, uint64_t& offset, uint64_t& count) {
  if (n < 22) fail("%s: not a zip archive (%zu bytes; an .npz is a zip of .npy files)", path.c_str(), n);
  size_t end = std::string::npos;
  for (size_t i = n - 22 + 1; i-- > 0 && n - i <= 22 + 65535;)
    if (u32(p + i) == kEndSig) {
      end = i;
      break;
    }
  if (end == std::string::npos) fail("%s: no zip end-of-central-directory record (not an .npz archive)", path.c_str());
  count = u16(p + end + 10);
  offset = u32(p + end + 16);
  if ((count == 0xFFFF || offset == 0xFFFFFFFF) && end >= 20 && u32(p + end - 20) == kEnd64LocatorSig) {
    const uint64_t e64 = u64(p + end - 20 + 8);
    if (n < 56 || e64 > n - 56 || u32(p + e64) != kEnd64Sig) fail("%s: broken zip64 end record", path.c_str());
    count = u64(p + e64 + 32);
    offset = u64(p + e64 + 48);
  }
  if (offset > n)
    fail("%s: zip central directory at byte %llu is past the end of the file", path.c_str(),
         (unsigned long long)offset);
}

// The zip64 extra field (ID 1) supplies, in this order, whichever of size, compressed size and
// local offset are 0xFFFFFFFF in the fixed fields.
void read_zip64_extra(const uint8_t* e, size_t len, Member& m, const std::string& where) {
  for (size_t i = 0; i + 4 <= len;) {
    const uint16_t id = u16(e + i), sz = u16(e + i + 2);
    if (i + 4 + sz > len) fail("%s: truncated zip extra field", where.c_str());
    if (id == 1) {
      size_t k = i + 4;
      for (uint64_t* v : {&m.size, &m.compressed, &m.local_offset})
        if (*v == 0xFFFFFFFF) {
          if (k + 8 > i + 4 + sz) fail("%s: zip64 extra field too short", where.c_str());
          *v = u64(e + k);
          k += 8;
        }
    }
    i += 4 + sz;
  }
}

std::vector<Member> central_directory(const uint8_t* p, size_t n, const std::string& path) {
  uint64_t off = 0, count = 0;
  find_central_directory(p, n, path, off, count);
  std::vector<Member> out;
  for (uint64_t k = 0; k < count; ++k) {
    if (off + 46 > n || u32(p + off) != kCentralSig)
      fail("%s: zip central directory entry %llu is broken", path.c_str(), (unsigned long long)k);
    Member m;
    m.method = u16(p + off + 10);
    m.crc = u32(p + off + 16);
    m.compressed = u32(p + off + 20);
    m.size = u32(p + off + 24);
    const size_t name_len = u16(p + off + 28), extra_len = u16(p + off + 30), comment_len = u16(p + off + 32);
    m.local_offset = u32(p + off + 42);
    if (off + 46 + name_len + extra_len + comment_len > n)
      fail("%s: zip central directory entry %llu runs past the end of the file", path.c_str(), (unsigned long long)k);
    m.name.assign(reinterpret_cast<const char*>(p + off + 46), name_len);
    read_zip64_extra(p + off + 46 + name_len, extra_len, m, path + ": member " + m.name);
    out.push_back(m);
    off += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

// The member's bytes, inflated when deflated, CRC-checked.
std::vector<uint8_t> member_bytes(const uint8_t* p, size_t n, const Member& m, const std::string& where) {
  if (m.local_offset > n - std::min<size_t>(n, 30) || u32(p + m.local_offset) != kLocalSig)
    fail("%s: no zip local header at byte %llu", where.c_str(), (unsigned long long)m.local_offset);
  const uint64_t start = m.local_offset + 30 + u16(p + m.local_offset + 26) + u16(p + m.local_offset + 28);
  if (start > n || m.compressed > n - start) fail("%s: compressed data runs past the end of the file", where.c_str());
  const uint8_t* src = p + start;
  std::vector<uint8_t> out;
  if (m.method == 0) {
    if (m.size != m.compressed)
      fail("%s: stored member with size %llu != %llu", where.c_str(), (unsigned long long)m.size,
           (unsigned long long)m.compressed);
    out.assign(src, src + m.size);
  } else if (m.method == 8) {
    // deflate expands at most ~1032:1: a larger declared size is a broken or hostile header
    if (m.size > 1032 * m.compressed + 1024)
      fail("%s: declared size %llu is impossible for %llu deflated bytes", where.c_str(), (unsigned long long)m.size,
           (unsigned long long)m.compressed);
    out.resize(m.size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail("%s: zlib inflateInit2 failed", where.c_str());
    size_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {  // zlib counts in uInt: feed at most 1 GiB at a time
      const size_t in_chunk = std::min<size_t>(m.compressed - in_done, 1u << 30);
      const size_t out_chunk = std::min<size_t>(m.size - out_done, 1u << 30);
      z.next_in = const_cast<Bytef*>(src + in_done);
      z.avail_in = uInt(in_chunk);
      z.next_out = out.data() + out_done;
      z.avail_out = uInt(out_chunk);
      rc = inflate(&z, Z_NO_FLUSH);
      in_done += in_chunk - z.avail_in;
      out_done += out_chunk - z.avail_out;
      if (rc == Z_OK && in_chunk == 0 && out_chunk == 0) rc = Z_BUF_ERROR;
      if (rc == Z_BUF_ERROR && out_done == m.size && in_done == m.compressed) rc = Z_STREAM_END;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || out_done != m.size)
      fail("%s: deflate data is corrupt (zlib: %s)", where.c_str(), z.msg ? z.msg : "truncated or too long");
  } else {
    fail(
        "%s: zip compression method %u is not supported (np.savez writes 0 = stored, np.savez_compressed 8 = "
        "deflate)",
        where.c_str(), unsigned(m.method));
  }
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t i = 0; i < out.size(); i += size_t(1) << 30)
    crc = crc32(crc, out.data() + i, uInt(std::min<size_t>(out.size() - i, size_t(1) << 30)));
  if (uint32_t(crc) != m.crc) fail("%s: CRC-32 mismatch (the archive is corrupt)", where.c_str());
  return out;
}

// The value of 'key' in the .npy header dict literal, up to its terminating delimiter.
std::string header_field(const std::string& h, const std::string& key, const std::string& context) {
  const std::string k = "'" + key + "'";
  size_t i = h.find(k);
  if (i == std::string::npos) fail("%s: .npy header lacks '%s' (header: %s)", context.c_str(), key.c_str(), h.c_str());
  i = h.find(':', i + k.size());
  if (i == std::string::npos) fail("%s: .npy header field '%s' has no value", context.c_str(), key.c_str());
  ++i;
  while (i < h.size() && h[i] == ' ') ++i;
  if (i < h.size() && (h[i] == '\'' || h[i] == '"')) {
    const size_t j = h.find(h[i], i + 1);
    if (j == std::string::npos) fail("%s: unterminated string in .npy header", context.c_str());
    return h.substr(i + 1, j - i - 1);
  }
  if (i < h.size() && h[i] == '(') {
    const size_t j = h.find(')', i);
    if (j == std::string::npos) fail("%s: unterminated shape in .npy header", context.c_str());
    return h.substr(i + 1, j - i - 1);
  }
  size_t j = i;
  while (j < h.size() && h[j] != ',' && h[j] != '}') ++j;
  return h.substr(i, j - i);
}

std::vector<int64_t> parse_shape(const std::string& s, const std::string& context) {
  std::vector<int64_t> shape;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i == s.size()) break;
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i || j - i > 15) fail("%s: bad .npy shape (%s)", context.c_str(), s.c_str());
    shape.push_back(std::stoll(s.substr(i, j - i)));
    i = j;
    while (i < s.size() && s[i] == 'L') ++i;  // Python 2 longs
  }
  return shape;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t NpyArray::item_size() const {
  if (descr.size() < 3) return 0;
  const size_t k = size_t(std::stoul(descr.substr(2)));
  return descr[1] == 'U' ? 4 * k : k;
}

NpyArray parse_npy(const uint8_t* p, size_t n, const std::string& context) {
  static const char kMagic[] = "\x93NUMPY";
  if (n < 10 || std::memcmp(p, kMagic, 6) != 0) fail("%s: not a .npy array (bad magic)", context.c_str());
  const int major = p[6];
  if (major < 1 || major > 3) fail("%s: .npy format version %d is not supported (1–3)", context.c_str(), major);
  const size_t hstart = major == 1 ? 10 : 12;  // magic, version, then a 2- or 4-byte header length
  if (n < hstart) fail("%s: truncated .npy header (%zu bytes)", context.c_str(), n);
  const size_t hlen = major == 1 ? u16(p + 8) : u32(p + 8);
  if (hlen > n - hstart) fail("%s: .npy header runs past the end of the member", context.c_str());
  const std::string h(reinterpret_cast<const char*>(p + hstart), hlen);
  NpyArray a;
  a.descr = header_field(h, "descr", context);
  const std::string fo = header_field(h, "fortran_order", context);
  a.fortran_order = fo.find("True") != std::string::npos;
  a.shape = parse_shape(header_field(h, "shape", context), context);
  const bool known = a.descr.size() >= 3 && (a.descr[0] == '<' || a.descr[0] == '|' || a.descr[0] == '=') &&
                     std::string("uibfU").find(a.descr[1]) != std::string::npos &&
                     a.descr.find_first_not_of("0123456789", 2) == std::string::npos && a.descr.size() <= 12;
  if (!known)
    fail(
        "%s: .npy dtype '%s' is not supported (little-endian numbers, booleans and str; object arrays need "
        "pickle and are refused)",
        context.c_str(), a.descr.c_str());
  const size_t body = n - hstart - hlen, item = a.item_size();
  // the element count is bounded by the member's size before any product can overflow
  uint64_t numel = 1;
  for (int64_t d : a.shape) {
    if (d != 0 && numel > body / size_t(d) + 1) fail("%s: .npy shape is larger than its data", context.c_str());
    numel *= uint64_t(d);
  }
  if (item == 0 || numel * item != body)
    fail("%s: .npy data holds %zu bytes, but shape and dtype '%s' need %llu", context.c_str(), body, a.descr.c_str(),
         (unsigned long long)(numel * item));
  a.data.assign(p + hstart + hlen, p + n);
  return a;
}

std::map<std::string, NpyArray> read_npz(const std::string& path) {
  MappedFile f(path);
  const uint8_t* p = f.data();
  const size_t n = f.size();
  std::map<std::string, NpyArray> out;
  for (const Member& m : central_directory(p, n, path)) {
    const std::string where = path + ": member " + m.name;
    if (m.name.size() < 5 || m.name.compare(m.name.size() - 4, 4, ".npy") != 0)
      fail("%s: not an .npy file (an .npz holds only .npy members)", where.c_str());
    std::vector<uint8_t> bytes = member_bytes(p, n, m, where);
    const std::string key = m.name.substr(0, m.name.size() - 4);
    if (!out.emplace(key, parse_npy(bytes.data(), bytes.size(), where)).second)
      fail("%s: member appears twice", where.c_str());
  }
  return out;
}

std::string npy_string(const NpyArray& a, const std::string& context) {
  if (a.descr.size() < 3 || a.descr[1] != 'U' || a.descr[0] == '>' || a.numel() != 1)
    fail("%s: expected one little-endian str (NumPy '<U…'), got dtype '%s' with %lld elements", context.c_str(),
         a.descr.c_str(), (long long)a.numel());
  std::string s;
  for (size_t i = 0; i + 4 <= a.data.size(); i += 4) {
    const uint32_t cp = u32(a.data.data() + i);
    if (cp == 0) break;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("%s: invalid code point U+%X", context.c_str(), cp);
    unicode::append_utf8(s, cp);
  }
  return s;
}

}  // namespace leap
