// The signature sign-file appends to a module. Private to liblpmon's module reader.
#pragma once

#include <string>
#include <vector>

#include "lpmon/module_inspector.hpp"
#include "module/elf_reader.hpp"

namespace lpmon::modfile {

// Whether `image` ends with a module signature, and for PKCS#7 its signer, key and digest
// (parsed by OpenSSL's CMS reader). A malformed trailer is a note, not an error.
ModuleSignature read_signature(Bytes image, std::vector<std::string>& notes);

}  // namespace lpmon::modfile
