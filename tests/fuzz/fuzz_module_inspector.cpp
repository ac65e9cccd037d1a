// libFuzzer entry for liblpmon's ModuleInspector: whatever the bytes, inspect() returns a
// ModuleInfo or throws ModuleFileError; anything else (a crash, a sanitizer report, another
// exception) is a bug. See README.md.
#include <cstddef>
#include <cstdint>
#include <span>

#include "lpmon/module_inspector.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A fixed layout: the klp decoder runs on every input, and no BTF is parsed per input.
  static lpmon::ModuleInspector inspector(lpmon::KlpLayout::from_btf(LPMON_FUZZ_KERNEL_BTF));
  try {
    const lpmon::ModuleInfo info =
        inspector.inspect(std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz");
    lpmon::check_vermagic(info, "6.1.0-56-amd64");
  } catch (const lpmon::ModuleFileError&) {
  }
  return 0;
}
