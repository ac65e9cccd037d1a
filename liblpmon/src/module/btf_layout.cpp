// Where lpmon finds a kernel's BTF, and the klp struct layout it reads from it.
#include <bpf/btf.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "kernel_file.hpp"
#include "lpmon/errors.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/module_inspector.hpp"
#include "module/klp_decoder.hpp"

namespace lpmon {

namespace fs = std::filesystem;

KlpLayout KlpLayout::from_btf(const fs::path& file) {
  std::unique_ptr<btf, decltype(&btf__free)> b(btf__parse(file.c_str(), nullptr), btf__free);
  if (!b) {
    throw KernelError("cannot read BTF from " + file.string() + ": " +
                      detail::errno_message(errno));
  }
  struct Member {
    std::size_t offset;
    std::size_t size;
  };
  auto find = [&](const char* type_name, std::size_t& size) -> const btf_type* {
    const int id = btf__find_by_name_kind(b.get(), type_name, BTF_KIND_STRUCT);
    if (id < 0) {
      throw KernelError(file.string() + " has no struct " + type_name +
                        ": its kernel was built without CONFIG_LIVEPATCH; pass the BTF of the "
                        "kernel the patch is for");
    }
    const btf_type* t = btf__type_by_id(b.get(), id);
    size = t->size;
    return t;
  };
  auto member = [&](const btf_type* t, const char* type_name, const char* name) -> Member {
    const btf_member* m = btf_members(t);
    for (unsigned short i = 0; i < btf_vlen(t); ++i, ++m) {
      if (std::strcmp(btf__name_by_offset(b.get(), m->name_off), name) != 0) continue;
      const unsigned bits = btf_member_bit_offset(t, i);
      const long long size = btf__resolve_size(b.get(), m->type);
      if (bits % 8 != 0 || btf_member_bitfield_size(t, i) != 0 || size <= 0) break;
      return {bits / 8, static_cast<std::size_t>(size)};
    }
    throw KernelError(file.string() + ": struct " + type_name + " has no member " + name +
                      " that lpmon can read");
  };
  KlpLayout l;
  const btf_type* func = find("klp_func", l.func_size);
  const Member old_name = member(func, "klp_func", "old_name");
  l.pointer_size = old_name.size;
  l.func_old_name = old_name.offset;
  l.func_new_func = member(func, "klp_func", "new_func").offset;
  const Member sympos = member(func, "klp_func", "old_sympos");
  l.func_old_sympos = sympos.offset;
  l.func_old_sympos_size = sympos.size;
  const btf_type* object = find("klp_object", l.object_size);
  l.object_name = member(object, "klp_object", "name").offset;
  l.object_funcs = member(object, "klp_object", "funcs").offset;
  std::size_t patch_size = 0;
  const btf_type* patch = find("klp_patch", patch_size);
  l.patch_mod = member(patch, "klp_patch", "mod").offset;
  l.patch_objs = member(patch, "klp_patch", "objs").offset;
  l.patch_replace = member(patch, "klp_patch", "replace").offset;
  if (auto bad = modfile::check_layout(l)) throw KernelError(file.string() + ": " + *bad);
  return l;
}

std::optional<fs::path> find_kernel_btf(std::string_view release, const KernelPaths& paths) {
  // The release comes from the module file: keep it from walking out of the directories.
  if (release.empty() || release.find('/') != std::string_view::npos || release.starts_with(".")) {
    return std::nullopt;
  }
  std::string running;
  try {
    running = kernel_release(paths);
  } catch (const KernelError&) {
  }
  const std::string r(release);
  std::error_code ec;
  if (running == r && fs::exists(paths.sysfs / "kernel/btf/vmlinux", ec)) {
    return paths.sysfs / "kernel/btf/vmlinux";
  }
  for (const fs::path& candidate : {fs::path("/lib/modules") / r / "build/vmlinux",
                                    fs::path("/usr/lib/debug/boot") / ("vmlinux-" + r),
                                    fs::path("/usr/lib/debug/lib/modules") / r / "vmlinux"}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

}  // namespace lpmon
