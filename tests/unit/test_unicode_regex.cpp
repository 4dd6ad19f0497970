// Unicode tables, NFC, and the pre-tokenizer regex engine (torch-free pieces of the tokenizers).
#include "base/error.h"
#include "test_util.h"
#include "text/regex.h"
#include "text/unicode.h"

namespace leap {
namespace {
using unicode::decode_utf8;
using unicode::encode_utf8;

std::vector<std::string> find_all(const std::string& pattern, const std::string& text) {
  Regex re(pattern);
  auto cps = decode_utf8(text);
  std::vector<std::string> out;
  size_t pos = 0, b, e;
  while (pos <= cps.size() && re.search(cps, pos, b, e)) {
    out.push_back(encode_utf8(std::vector<uint32_t>(cps.begin() + long(b), cps.begin() + long(e))));
    pos = e > b ? e : b + 1;
  }
  return out;
}

TEST(Unicode, Utf8AndCategories) {
  std::string s = "aé日🙂";
  auto cps = decode_utf8(s);
  EXPECT_EQ(cps, (std::vector<uint32_t>{'a', 0xE9, 0x65E5, 0x1F642}));
  EXPECT_EQ(encode_utf8(cps), s);
  EXPECT_EQ(decode_utf8("\xff"
                        "a"),
            (std::vector<uint32_t>{0xFFFD, 'a'}));
  EXPECT_EQ(decode_utf8("\xc0\xaf"), (std::vector<uint32_t>{0xFFFD, 0xFFFD}));  // overlong
  EXPECT_STREQ(unicode::category('A'), "Lu");
  EXPECT_STREQ(unicode::category('7'), "Nd");
  EXPECT_STREQ(unicode::category(0x00BD), "No");
  EXPECT_STREQ(unicode::category(0x65E5), "Lo");
  EXPECT_TRUE(unicode::is_white_space(0x3000));
  EXPECT_FALSE(unicode::is_white_space(0x200B));
}

TEST(Unicode, Nfc) {
  EXPECT_EQ(unicode::nfc("e\xcc\x81"), "\xc3\xa9");                                 // e + acute → é
  EXPECT_EQ(unicode::nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "\xea\xb0\x81");  // jamo → 각
  EXPECT_EQ(unicode::nfc("a\xcc\xa3\xcc\x87"), "\xe1\xba\xa1\xcc\x87");  // a + dot below + dot above → ạ̇
  EXPECT_EQ(unicode::nfc("\xef\xac\x81"), "\xef\xac\x81");               // ﬁ ligature is not canonical
  EXPECT_EQ(unicode::nfc("plain ascii"), "plain ascii");
}

TEST(Regex, Llama3Pattern) {
  const char* pat =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  EXPECT_EQ(find_all(pat, "Hello world 12345 I'LL   go!!\n\nx"),
            (std::vector<std::string>{"Hello", " world", " ", "123", "45", " I", "'LL", "  ", " go", "!!\n\n", "x"}));
}

TEST(Regex, QuantifiersGroupsAndLookahead) {
  EXPECT_EQ(find_all("a{2,3}", "aaaaaaa"), (std::vector<std::string>{"aaa", "aaa"}));
  EXPECT_EQ(find_all("a+?", "aaa"), (std::vector<std::string>{"a", "a", "a"}));
  EXPECT_EQ(find_all("(?:ab)+", "ababxab"), (std::vector<std::string>{"abab", "ab"}));
  EXPECT_EQ(find_all("x(?=y)", "xyxz"), (std::vector<std::string>{"x"}));
  EXPECT_EQ(find_all("[a-c]+", "abcdcba"), (std::vector<std::string>{"abc", "cba"}));
  EXPECT_EQ(find_all("\\p{Lu}\\p{Ll}+", "Hello World"), (std::vector<std::string>{"Hello", "World"}));
  EXPECT_EQ(find_all("(?i:ab)", "AB aB ab"), (std::vector<std::string>{"AB", "aB", "ab"}));
}

TEST(Regex, UnsupportedSyntaxIsAnError) {
  for (const char* bad : {"(?<=a)b", "a++", "(a", "a)", "[a", "\\1", "(?P<n>a)", "*a", "a{3,1}"}) {
    EXPECT_THROW(Regex r(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace leap
