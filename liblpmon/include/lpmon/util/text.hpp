#pragma once

#include <string>
#include <string_view>

// Text that comes from users and reaches a terminal or a JSON document: task names (any user
// sets its own, with prctl(PR_SET_NAME) or /proc/self/comm, to any bytes but NUL).
namespace lpmon::text {

// For JSON, which must be valid UTF-8: valid UTF-8 passes as it is (the JSON writer escapes
// control characters), each byte that is not part of valid UTF-8 becomes the four characters
// \xHH. Never throws.
std::string valid_utf8(std::string_view bytes);

// For a terminal: printable UTF-8 passes; control characters (C0, DEL, C1: what starts an
// escape sequence), bidirectional overrides and invalid bytes become \xHH or \u{HHHH}, and a
// backslash becomes \\, so the output cannot move the cursor, recolour or hide text, and
// stays unambiguous.
std::string printable(std::string_view bytes);

}  // namespace lpmon::text
