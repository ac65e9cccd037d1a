#include "header_changes.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "lpmon/build/diff_build.hpp"
#include "lpmon/util/process.hpp"

namespace lpmon::build {

namespace fs = std::filesystem;

namespace {

// The text with comments, string and character literals and preprocessor lines blanked
// (newlines kept, so line numbers hold); `directive` marks the preprocessor lines.
std::string code_only(const std::string& text, std::vector<bool>& directive) {
  std::string out = text;
  directive.assign(std::count(text.begin(), text.end(), '\n') + 2, false);
  std::size_t line = 1;
  bool line_start = true;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = true;
      continue;
    }
    if (line_start && c == '#') {  // to the end of the line and its continuations
      directive[line] = true;
      for (; i < out.size(); ++i) {
        if (text[i] != '\n') {
          out[i] = ' ';
        } else if (text[i - 1] == '\\') {
          directive[++line] = true;
        } else {
          break;
        }
      }
      --i;
      continue;
    }
    if (!std::isspace(static_cast<unsigned char>(c))) line_start = false;
    if (c == '/' && i + 1 < out.size() && text[i + 1] == '*') {
      const std::size_t end = text.find("*/", i + 2);
      const std::size_t stop = end == std::string::npos ? text.size() : end + 2;
      for (; i < stop; ++i) {
        if (text[i] == '\n')
          ++line;
        else
          out[i] = ' ';
      }
      --i;
    } else if (c == '/' && i + 1 < out.size() && text[i + 1] == '/') {
      for (; i < out.size() && text[i] != '\n'; ++i) out[i] = ' ';
      --i;
    } else if (c == '"' || c == '\'') {
      out[i] = ' ';
      for (++i; i < out.size() && text[i] != c && text[i] != '\n'; ++i) {
        if (text[i] == '\\') out[i++] = ' ';
        if (i < out.size() && text[i] != '\n') out[i] = ' ';
      }
      if (i < out.size() && text[i] == c) out[i] = ' ';
    }
  }
  return out;
}

struct Span {
  std::size_t first, last;  // lines, inclusive
  std::string name;
};

bool is_ident(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Definitions `static [inline|__always_inline] ... name(...) { ... }` at file scope.
std::vector<Span> inline_definitions(const std::string& code) {
  static const std::set<std::string> annotations{"__attribute__", "__acquires", "__releases",
                                                 "__must_hold", "__cond_acquires"};
  std::vector<Span> spans;
  std::size_t line = 1;
  int depth = 0;
  for (std::size_t i = 0; i < code.size(); ++i) {
    if (code[i] == '\n') ++line;
    if (code[i] == '{') ++depth;
    if (code[i] == '}') --depth;
    if (depth != 0 || code.compare(i, 6, "static") != 0 || (i > 0 && is_ident(code[i - 1])) ||
        is_ident(code[i + 6]))
      continue;
    // The declaration up to its body or its ';'.
    std::size_t j = i, decl_lines = 0;
    int parens = 0;
    std::string name;
    for (; j < code.size(); ++j) {
      const char c = code[j];
      if (c == '\n') ++decl_lines;
      if (c == '(') {
        if (parens == 0) {
          std::size_t k = j;
          while (k > i && std::isspace(static_cast<unsigned char>(code[k - 1]))) --k;
          std::size_t b = k;
          while (b > i && is_ident(code[b - 1])) --b;
          const std::string ident = code.substr(b, k - b);
          if (!ident.empty() && !annotations.contains(ident)) name = ident;
        }
        ++parens;
      }
      if (c == ')') --parens;
      if (parens == 0 && (c == '{' || c == ';')) break;
    }
    const std::string decl = code.substr(i, j - i);
    static const std::regex inline_word(R"(\b(inline|__always_inline|__inline__)\b)");
    if (j >= code.size() || code[j] != '{' || name.empty() || !std::regex_search(decl, inline_word))
      continue;
    // The body, to its closing brace.
    std::size_t body_lines = 0, k = j;
    int braces = 0;
    for (; k < code.size(); ++k) {
      if (code[k] == '\n') ++body_lines;
      if (code[k] == '{') ++braces;
      if (code[k] == '}' && --braces == 0) break;
    }
    spans.push_back({line, line + decl_lines + body_lines, name});
    line += decl_lines + body_lines;
    i = k;
  }
  return spans;
}

std::string line_of(const std::string& text, std::size_t n) {
  std::istringstream in(text);
  std::string line;
  for (std::size_t i = 0; i < n && std::getline(in, line); ++i) {
  }
  return line;
}

std::string joined(const std::vector<std::string>& items, std::size_t most = 100) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < most; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > most) out += " and " + std::to_string(items.size() - most) + " more";
  return out;
}

}  // namespace

ChangedLines changed_lines(const fs::path& patch, const std::string& file) {
  std::ifstream in(patch);
  ChangedLines lines;
  bool ours = false;
  std::size_t old_line = 0, new_line = 0;
  static const std::regex hunk(R"(^@@ -([0-9]+)(,[0-9]+)? \+([0-9]+)(,[0-9]+)? @@)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (line.starts_with("+++ ")) {
      std::string name = line.substr(4);
      if (const auto tab = name.find('\t'); tab != std::string::npos) name.resize(tab);
      const auto slash = name.find('/');
      ours = slash != std::string::npos && name.substr(slash + 1) == file;
    } else if (line.starts_with("--- ") || line.starts_with("diff ")) {
      continue;
    } else if (ours && std::regex_search(line, m, hunk)) {
      old_line = std::stoul(m[1]);
      new_line = std::stoul(m[3]);
    } else if (ours && line.starts_with("-")) {
      lines.removed.push_back(old_line++);
    } else if (ours && line.starts_with("+")) {
      lines.added.push_back(new_line++);
    } else if (ours && line.starts_with(" ")) {
      ++old_line;
      ++new_line;
    }
  }
  return lines;
}

std::vector<std::string> changed_inline_functions(const std::string& header,
                                                  const std::string& old_text,
                                                  const std::string& new_text,
                                                  const ChangedLines& lines) {
  std::set<std::string> names;
  auto place = [&](const std::string& text, const std::vector<std::size_t>& changed) {
    std::vector<bool> directive;
    const std::string code = code_only(text, directive);
    const auto spans = inline_definitions(code);
    for (const std::size_t n : changed) {
      const auto in = std::find_if(spans.begin(), spans.end(),
                                   [&](const Span& s) { return s.first <= n && n <= s.last; });
      if (in != spans.end()) {
        names.insert(in->name);
        continue;
      }
      const std::string c = line_of(code, n);
      const bool blank =
          std::all_of(c.begin(), c.end(), [](char ch) { return std::isspace((unsigned char)ch); });
      if (blank && !(n < directive.size() && directive[n])) continue;  // comment or blank
      throw Refused(header + ": the diff changes line " + std::to_string(n) + " (`" +
                    line_of(text, n) +
                    "`), outside any static inline function: a change to a header's structs, "
                    "macros or declarations reaches code that cannot be found function by "
                    "function; for a struct, keep it as it is and write a fix unit with a klp "
                    "shadow variable (kmod/fixes/README.md)");
    }
  };
  place(old_text, lines.removed);
  place(new_text, lines.added);
  return {names.begin(), names.end()};
}

std::vector<std::string> header_users(const fs::path& tree, const std::string& header,
                                      const std::vector<std::string>& functions) {
  std::vector<std::string> argv{"grep", "-rlw", "--include=*.c", "--include=*.h",
                                "--exclude-dir=.git"};
  for (const auto& f : functions) {
    argv.push_back("-e");
    argv.push_back(f);
  }
  argv.push_back(".");
  const ProcessResult r = run_process(argv, {.cwd = tree});
  if (r.status > 1) throw std::runtime_error("grep failed in " + tree.string());
  std::vector<std::string> sources, headers;
  std::istringstream in(r.output);
  for (std::string path; std::getline(in, path);) {
    if (path.starts_with("./")) path = path.substr(2);
    if (path == header) continue;
    // Not kernel code, or another architecture's.
    bool other = false;
    for (const char* dir : {"tools/", "scripts/", "samples/", "Documentation/", "usr/"})
      other = other || path.starts_with(dir);
    if (other || (path.starts_with("arch/") && !path.starts_with("arch/x86/"))) continue;
    (path.ends_with(".h") ? headers : sources).push_back(path);
  }
  std::sort(sources.begin(), sources.end());
  std::sort(headers.begin(), headers.end());
  const std::string what = header + " (" + joined(functions) + ")";
  if (!headers.empty()) {
    throw Refused("the diff changes " + what + ", which other headers use too (" +
                  joined(headers, 6) +
                  "): the functions they were inlined into cannot be found from the sources "
                  "alone; write the fix against the .c functions that call them");
  }
  if (sources.size() > kMaxHeaderUsers) {
    throw Refused("the diff changes " + what + ", used in " + std::to_string(sources.size()) +
                  " files (" + joined(sources, 8) + "): more than " +
                  std::to_string(kMaxHeaderUsers) +
                  " files to rebuild and patch; write the fix against the callers that need it");
  }
  return sources;
}

}  // namespace lpmon::build
