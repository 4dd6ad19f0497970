// unicode.h — the Unicode pieces tokenizers need: UTF-8 decoding/encoding, general categories,
// the White_Space property, and NFC normalisation. Tables are generated from Python's
// unicodedata by scripts/gen_unicode_tables.py. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace leap::unicode {

// Decodes UTF-8; each invalid or truncated sequence becomes U+FFFD (one per bad byte).
std::vector<uint32_t> decode_utf8(const std::string& s);
void append_utf8(std::string& out, uint32_t cp);
std::string encode_utf8(const std::vector<uint32_t>& cps);

// Two-letter general category ("Lu", "Nd", "Zs", ... "Cn" for unassigned).
const char* category(uint32_t cp);
bool in_category(uint32_t cp, const std::string& cat);  // "L", "Lu", "N", "P", ...
bool is_white_space(uint32_t cp);                       // the Unicode White_Space property (regex \s)

uint8_t combining_class(uint32_t cp);
std::string nfc(const std::string& utf8);
std::vector<uint32_t> nfc(const std::vector<uint32_t>& cps);
std::vector<uint32_t> nfd(const std::vector<uint32_t>& cps);

}  // namespace leap::unicode
