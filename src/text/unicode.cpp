// unicode.cpp — see unicode.h. NFC = canonical decomposition (recursive, Hangul algorithmic),
// canonical ordering by combining class, then canonical composition (UAX #15).
#include "text/unicode.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace leap::unicode {
namespace {
#include "unicode_tables.inc"

constexpr uint32_t SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
constexpr uint32_t LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

uint8_t category_index(uint32_t cp) {
  size_t lo = 0, hi = sizeof kCategoryRanges / sizeof kCategoryRanges[0];
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (kCategoryRanges[mid].hi < cp)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < sizeof kCategoryRanges / sizeof kCategoryRanges[0] && kCategoryRanges[lo].lo <= cp)
    return kCategoryRanges[lo].cat;
  return 2;  // Cn
}

const DecompEntry* find_decomp(uint32_t cp) {
  auto* b = std::begin(kDecomp);
  auto* e = std::end(kDecomp);
  auto* it = std::lower_bound(b, e, cp, [](const DecompEntry& d, uint32_t c) { return d.cp < c; });
  return it != e && it->cp == cp ? it : nullptr;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= SBase && cp < SBase + SCount) {
    uint32_t s = cp - SBase;
    out.push_back(LBase + s / NCount);
    out.push_back(VBase + (s % NCount) / TCount);
    if (s % TCount) out.push_back(TBase + s % TCount);
    return;
  }
  const DecompEntry* d = find_decomp(cp);
  if (!d) {
    out.push_back(cp);
    return;
  }
  decompose(d->a, out);
  if (d->b) decompose(d->b, out);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
    return SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
  if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
    return a + (b - TBase);
  auto* bg = std::begin(kCompose);
  auto* en = std::end(kCompose);
  auto* it =
      std::lower_bound(bg, en, std::make_pair(a, b), [](const CompEntry& c, const std::pair<uint32_t, uint32_t>& k) {
        return c.a != k.first ? c.a < k.first : c.b < k.second;
      });
  return it != en && it->a == a && it->b == b ? it->cp : 0;
}
}  // namespace

std::vector<uint32_t> decode_utf8(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    uint32_t cp;
    size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    bool ok = i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80)
        ok = false;
      else
        cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // reject overlongs, surrogates and out-of-range values
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80)
    out.push_back(char(cp));
  else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string s;
  s.reserve(cps.size());
  for (uint32_t c : cps) append_utf8(s, c);
  return s;
}

const char* category(uint32_t cp) {
  return kCategoryNames[category_index(cp)];
}

bool in_category(uint32_t cp, const std::string& cat) {
  const char* c = category(cp);
  if (cat.size() == 1) return c[0] == cat[0];
  return std::strncmp(c, cat.c_str(), 2) == 0 && cat.size() == 2;
}

bool is_white_space(uint32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

uint8_t combining_class(uint32_t cp) {
  auto* b = std::begin(kCombiningClass);
  auto* e = std::end(kCombiningClass);
  auto* it = std::lower_bound(b, e, cp, [](const CccEntry& d, uint32_t c) { return d.cp < c; });
  return it != e && it->cp == cp ? it->ccc : 0;
}

std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps) {
  std::vector<uint32_t> out;
  out.reserve(cps.size());
  for (uint32_t c : cps) decompose(c, out);
  // canonical ordering: stable sort each run of non-starters by combining class
  size_t i = 0;
  while (i < out.size()) {
    if (combining_class(out[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < out.size() && combining_class(out[j]) != 0) ++j;
    std::stable_sort(out.begin() + i, out.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  return out;
}

std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps) {
  // Fast path: ASCII is always NFC.
  bool ascii = true;
  for (uint32_t c : cps) ascii &= c < 0x80;
  if (ascii) return cps;
  std::vector<uint32_t> d = nfd(cps);
  if (d.empty()) return d;
  std::vector<uint32_t> out;
  out.reserve(d.size());
  size_t starter = SIZE_MAX;  // index in `out` of the last starter
  int last_cc = -1;
  for (uint32_t c : d) {
    int cc = combining_class(c);
    bool composed = false;
    if (starter != SIZE_MAX) {
      bool adjacent = out.size() - 1 == starter;
      // not blocked: nothing between the starter and c, or everything between has a lower class
      bool unblocked = adjacent || (last_cc != 0 && last_cc < cc);
      if (unblocked) {
        uint32_t comp = compose_pair(out[starter], c);
        if (comp) {
          out[starter] = comp;
          composed = true;
        }
      }
    }
    if (composed) continue;
    out.push_back(c);
    if (cc == 0) {
      starter = out.size() - 1;
      last_cc = 0;
    } else {
      last_cc = cc;
    }
  }
  return out;
}

std::string nfc(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80) return encode_utf8(nfc(decode_utf8(s)));
  return s;
}

}  // namespace leap::unicode
