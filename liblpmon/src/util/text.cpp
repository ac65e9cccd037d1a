#include "lpmon/util/text.hpp"

#include <cstdint>
#include <cstdio>

namespace lpmon::text {
namespace {

// The length of the valid UTF-8 sequence at s[i] and its code point, or 0 when the byte
// there does not start one (overlong forms, surrogates and code points past U+10FFFF are
// invalid, as RFC 3629 says).
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b0 = byte(0);
  std::size_t len;
  char32_t min;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, min = 0x80, cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, min = 0x800, cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, min = 0x10000, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

void append_hex_byte(std::string& out, unsigned char b) {
  char buf[5];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  out += buf;
}

bool unsafe_on_terminal(char32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||           // C0, DEL, C1
         (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);  // bidi controls
}

}  // namespace

std::string valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp;
    if (const std::size_t len = utf8_sequence(bytes, i, cp)) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      append_hex_byte(out, static_cast<unsigned char>(bytes[i++]));
    }
  }
  return out;
}

std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size();) {
    char32_t cp;
    const std::size_t len = utf8_sequence(bytes, i, cp);
    if (len == 0) {
      append_hex_byte(out, static_cast<unsigned char>(bytes[i++]));
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp < 0x80 && unsafe_on_terminal(cp)) {
      append_hex_byte(out, static_cast<unsigned char>(cp));
    } else if (unsafe_on_terminal(cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\u{%04x}", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(bytes.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace lpmon::text
