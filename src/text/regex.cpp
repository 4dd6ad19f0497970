// regex.cpp — see regex.h. Parsing builds a tree of alternatives/sequences; matching is
// depth-first backtracking with continuations (function_ref, no allocation per step).
#include "text/regex.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "text/unicode.h"

namespace leap {
namespace {

// A non-owning callable reference: bool(size_t pos).
class Cont {
 public:
  template <class F>
  Cont(const F& f) : obj_(&f), call_([](const void* o, size_t p) { return (*static_cast<const F*>(o))(p); }) {}
  bool operator()(size_t p) const { return call_(obj_, p); }

 private:
  const void* obj_;
  bool (*call_)(const void*, size_t);
};

struct ClassItem {
  enum Kind { Range, Category, Space, Digit, Word } kind;
  uint32_t lo = 0, hi = 0;
  std::string cat;
  bool negated = false;  // \S, \D, \W, \P{..}
};

uint32_t fold(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c == 0x17F) return 's';   // LATIN SMALL LETTER LONG S
  if (c == 0x212A) return 'k';  // KELVIN SIGN
  return c;
}

bool is_word(uint32_t c) {
  const char* cat = unicode::category(c);
  return cat[0] == 'L' || cat[0] == 'M' || (cat[0] == 'N' && cat[1] == 'd') || (cat[0] == 'P' && cat[1] == 'c');
}

bool item_matches(const ClassItem& it, uint32_t c) {
  bool m = false;
  switch (it.kind) {
    case ClassItem::Range:
      m = c >= it.lo && c <= it.hi;
      break;
    case ClassItem::Category:
      m = unicode::in_category(c, it.cat);
      break;
    case ClassItem::Space:
      m = unicode::is_white_space(c);
      break;
    case ClassItem::Digit:
      m = std::strcmp(unicode::category(c), "Nd") == 0;
      break;
    case ClassItem::Word:
      m = is_word(c);
      break;
  }
  return m != it.negated;
}

struct Node;
using Seq = std::vector<Node>;
struct Alt {
  std::vector<Seq> branches;
};

struct Node {
  enum Kind { Char, Class, Any, Group, LookAhead, Bol, Eol } kind = Char;
  uint32_t ch = 0;
  bool icase = false;
  std::vector<ClassItem> items;
  bool negated = false;  // class negation / negative look-ahead
  std::shared_ptr<Alt> group;
  int min = 1, max = 1;  // max < 0: unbounded
  bool greedy = true;
};

class Parser {
 public:
  Parser(const std::vector<uint32_t>& p, const std::string& src) : p_(p), src_(src) {}
  std::shared_ptr<Alt> parse() {
    auto a = parse_alt(false);
    if (i_ != p_.size()) err("unbalanced ')'");
    return a;
  }

 private:
  const std::vector<uint32_t>& p_;
  const std::string& src_;
  size_t i_ = 0;

  [[noreturn]] void err(const char* what) { fail("tokenizer regex \"%s\": %s at offset %zu", src_.c_str(), what, i_); }
  bool eof() const { return i_ >= p_.size(); }
  uint32_t peek() const { return p_[i_]; }

  std::shared_ptr<Alt> parse_alt(bool icase) {
    auto alt = std::make_shared<Alt>();
    alt->branches.push_back(parse_seq(icase));
    while (!eof() && peek() == '|') {
      ++i_;
      alt->branches.push_back(parse_seq(icase));
    }
    return alt;
  }

  Seq parse_seq(bool icase) {
    Seq seq;
    while (!eof() && peek() != '|' && peek() != ')') {
      Node n = parse_atom(icase);
      parse_quant(n);
      seq.push_back(std::move(n));
    }
    return seq;
  }

  void parse_quant(Node& n) {
    if (eof()) return;
    uint32_t c = peek();
    if (c == '?' || c == '*' || c == '+') {
      ++i_;
      n.min = c == '+' ? 1 : 0;
      n.max = c == '?' ? 1 : -1;
    } else if (c == '{') {
      size_t save = i_;
      ++i_;
      auto num = [&](int& v) {
        bool any = false;
        v = 0;
        while (!eof() && peek() >= '0' && peek() <= '9') {
          v = v * 10 + int(peek() - '0');
          if (v > 100000) err("repetition count too large");
          ++i_;
          any = true;
        }
        return any;
      };
      int lo = 0, hi = 0;
      if (!num(lo)) {
        i_ = save;  // a literal '{'
        return;
      }
      if (!eof() && peek() == ',') {
        ++i_;
        if (!num(hi)) hi = -1;
      } else {
        hi = lo;
      }
      if (eof() || peek() != '}') err("malformed {m,n} quantifier");
      ++i_;
      if (hi >= 0 && hi < lo) err("{m,n} with n < m");
      n.min = lo;
      n.max = hi;
    } else {
      return;
    }
    if (n.kind == Node::LookAhead || n.kind == Node::Bol || n.kind == Node::Eol) err("quantifier on an assertion");
    if (!eof() && peek() == '?') {
      ++i_;
      n.greedy = false;
    } else if (!eof() && peek() == '+') {
      err("possessive quantifiers are not supported");
    }
  }

  ClassItem parse_escape_item(bool& is_char, uint32_t& ch) {
    // after a backslash
    if (eof()) err("trailing backslash");
    uint32_t c = p_[i_++];
    is_char = false;
    ClassItem it;
    switch (c) {
      case 's':
        it.kind = ClassItem::Space;
        return it;
      case 'S':
        it.kind = ClassItem::Space;
        it.negated = true;
        return it;
      case 'd':
        it.kind = ClassItem::Digit;
        return it;
      case 'D':
        it.kind = ClassItem::Digit;
        it.negated = true;
        return it;
      case 'w':
        it.kind = ClassItem::Word;
        return it;
      case 'W':
        it.kind = ClassItem::Word;
        it.negated = true;
        return it;
      case 'p':
      case 'P': {
        it.kind = ClassItem::Category;
        it.negated = c == 'P';
        if (eof()) err("\\p needs a category");
        if (peek() == '{') {
          ++i_;
          std::string name;
          while (!eof() && peek() != '}') name.push_back(char(p_[i_++]));
          if (eof()) err("unterminated \\p{");
          ++i_;
          if (!name.empty() && name[0] == '^') {
            it.negated = !it.negated;
            name.erase(0, 1);
          }
          static const char* longnames[][2] = {{"Letter", "L"}, {"Number", "N"}, {"Punctuation", "P"},
                                               {"Symbol", "S"}, {"Mark", "M"},   {"Separator", "Z"},
                                               {"Other", "C"}};
          for (auto& ln : longnames)
            if (name == ln[0]) name = ln[1];
          if (name.empty() || name.size() > 2) err("unsupported \\p{} category");
          it.cat = name;
        } else {
          it.cat = std::string(1, char(p_[i_++]));
        }
        return it;
      }
      case 'r':
        ch = '\r';
        break;
      case 'n':
        ch = '\n';
        break;
      case 't':
        ch = '\t';
        break;
      case 'f':
        ch = '\f';
        break;
      case 'v':
        ch = '\v';
        break;
      case '0':
        ch = 0;
        break;
      case 'x': {
        uint32_t v = 0;
        int digits = 0;
        bool brace = !eof() && peek() == '{';
        if (brace) ++i_;
        while (!eof() && (brace || digits < 2) && isxdigit(int(peek()))) {
          uint32_t d = peek();
          v = v * 16 + (d <= '9' ? d - '0' : (d | 32) - 'a' + 10);
          ++i_;
          ++digits;
        }
        if (brace) {
          if (eof() || peek() != '}') err("malformed \\x{..}");
          ++i_;
        }
        if (digits == 0) err("malformed \\x escape");
        ch = v;
        break;
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9'))
          err("unsupported escape (back-references, \\b, \\A and similar are not supported)");
        ch = c;  // escaped punctuation
    }
    is_char = true;
    return it;
  }

  Node parse_class(bool icase) {
    // after '['
    Node n;
    n.kind = Node::Class;
    n.icase = icase;
    if (!eof() && peek() == '^') {
      n.negated = true;
      ++i_;
    }
    bool first = true;
    while (true) {
      if (eof()) err("unterminated character class");
      uint32_t c = peek();
      if (c == ']' && !first) {
        ++i_;
        break;
      }
      first = false;
      if (c == '[') err("nested character classes are not supported");
      uint32_t lo;
      ++i_;
      if (c == '\\') {
        bool is_char;
        uint32_t ch = 0;
        ClassItem it = parse_escape_item(is_char, ch);
        if (!is_char) {
          n.items.push_back(it);
          continue;
        }
        lo = ch;
      } else {
        lo = c;
      }
      uint32_t hi = lo;
      if (i_ + 1 < p_.size() && peek() == '-' && p_[i_ + 1] != ']') {
        ++i_;
        uint32_t c2 = p_[i_++];
        if (c2 == '\\') {
          bool is_char;
          uint32_t ch = 0;
          parse_escape_item(is_char, ch);
          if (!is_char) err("class range ends in a class escape");
          hi = ch;
        } else {
          hi = c2;
        }
        if (hi < lo) err("reversed class range");
      }
      ClassItem it;
      it.kind = ClassItem::Range;
      it.lo = lo;
      it.hi = hi;
      n.items.push_back(it);
    }
    return n;
  }

  Node parse_atom(bool icase) {
    uint32_t c = p_[i_++];
    Node n;
    n.icase = icase;
    switch (c) {
      case '(': {
        bool inner_icase = icase;
        n.kind = Node::Group;
        if (!eof() && peek() == '?') {
          ++i_;
          if (eof()) err("malformed group");
          uint32_t k = p_[i_++];
          if (k == ':') {
          } else if (k == '=' || k == '!') {
            n.kind = Node::LookAhead;
            n.negated = k == '!';
          } else if (k == 'i' && !eof() && peek() == ':') {
            ++i_;
            inner_icase = true;
          } else if (k == 'i' && !eof() && peek() == ')') {
            err("global (?i) flags are not supported; use (?i:...)");
          } else {
            err("unsupported group type (look-behind, named groups and flags other than (?i:) are not supported)");
          }
        }
        n.group = parse_alt(inner_icase);
        if (eof() || peek() != ')') err("missing ')'");
        ++i_;
        return n;
      }
      case '[':
        return parse_class(icase);
      case '.':
        n.kind = Node::Any;
        return n;
      case '^':
        n.kind = Node::Bol;
        return n;
      case '$':
        n.kind = Node::Eol;
        return n;
      case '\\': {
        bool is_char;
        uint32_t ch = 0;
        ClassItem it = parse_escape_item(is_char, ch);
        if (is_char) {
          n.kind = Node::Char;
          n.ch = ch;
        } else {
          n.kind = Node::Class;
          n.items.push_back(it);
        }
        return n;
      }
      case '*':
      case '+':
      case '?':
      case '{': {
        if (c == '{') {
          n.kind = Node::Char;
          n.ch = c;
          return n;
        }
        --i_;
        err("quantifier without an operand");
      }
      default:
        n.kind = Node::Char;
        n.ch = c;
        return n;
    }
  }
};

}  // namespace

struct Regex::Impl {
  std::shared_ptr<Alt> root;
  const std::vector<uint32_t>* s = nullptr;

  bool single(const Node& n, size_t pos) const {
    if (pos >= s->size()) return false;
    uint32_t c = (*s)[pos];
    switch (n.kind) {
      case Node::Char:
        return n.icase ? fold(c) == fold(n.ch) : c == n.ch;
      case Node::Any:
        return c != '\n';
      case Node::Class: {
        auto test = [&](uint32_t x) {
          for (const auto& it : n.items)
            if (item_matches(it, x)) return true;
          return false;
        };
        bool m = test(c);
        if (!m && n.icase) {
          uint32_t f = fold(c);
          uint32_t up = (f >= 'a' && f <= 'z') ? f - 32 : f;
          m = test(f) || test(up);
        }
        return m != n.negated;
      }
      default:
        return false;
    }
  }

  bool match_alt(const Alt& a, size_t pos, Cont k) const {
    for (const Seq& b : a.branches)
      if (match_seq(b, 0, pos, k)) return true;
    return false;
  }

  bool match_seq(const Seq& seq, size_t idx, size_t pos, Cont k) const {
    if (idx == seq.size()) return k(pos);
    const Node& n = seq[idx];
    auto next = [&](size_t p) { return match_seq(seq, idx + 1, p, k); };
    switch (n.kind) {
      case Node::Bol:
        return pos == 0 && next(pos);
      case Node::Eol:
        return pos == s->size() && next(pos);
      case Node::LookAhead: {
        auto accept = [](size_t) { return true; };
        bool m = match_alt(*n.group, pos, Cont(accept));
        return m != n.negated && next(pos);
      }
      case Node::Group:
        return match_group(n, 0, pos, Cont(next));
      default:
        break;
    }
    // single-character atom with a quantifier: count, then back off
    size_t maxn = n.max < 0 ? SIZE_MAX : size_t(n.max);
    if (n.greedy) {
      size_t cnt = 0;
      while (cnt < maxn && single(n, pos + cnt)) ++cnt;
      if (cnt < size_t(n.min)) return false;
      for (size_t c = cnt + 1; c-- > size_t(n.min);)
        if (next(pos + c)) return true;
      return false;
    }
    size_t cnt = 0;
    while (cnt < size_t(n.min)) {
      if (!single(n, pos + cnt)) return false;
      ++cnt;
    }
    while (true) {
      if (next(pos + cnt)) return true;
      if (cnt >= maxn || !single(n, pos + cnt)) return false;
      ++cnt;
    }
  }

  bool match_group(const Node& n, int count, size_t pos, Cont k) const {
    bool can_more = n.max < 0 || count < n.max;
    auto more = [&](size_t p) {
      if (p == pos && count >= n.min) return false;  // an empty iteration cannot loop
      return match_group(n, count + 1, p, k);
    };
    if (n.greedy) {
      if (can_more && match_alt(*n.group, pos, Cont(more))) return true;
      return count >= n.min && k(pos);
    }
    if (count >= n.min && k(pos)) return true;
    return can_more && match_alt(*n.group, pos, Cont(more));
  }
};

Regex::Regex(const std::string& pattern) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  std::vector<uint32_t> p = unicode::decode_utf8(pattern);
  Parser parser(p, pattern);
  impl_->root = parser.parse();
}
Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::search(const std::vector<uint32_t>& s, size_t start, size_t& begin, size_t& end) const {
  Impl m{impl_->root, &s};  // the subject lives in a per-call matcher: search() runs on several threads
  for (size_t b = start; b <= s.size(); ++b) {
    size_t e = 0;
    auto accept = [&](size_t p) {
      e = p;
      return true;
    };
    if (m.match_alt(*m.root, b, Cont(accept))) {
      begin = b;
      end = e;
      return true;
    }
  }
  return false;
}

}  // namespace leap
