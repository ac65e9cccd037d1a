#include "lpmon/build/fix_units.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>

namespace lpmon::build {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCallbackKinds[] = {"pre_patch", "post_patch", "pre_unpatch", "post_unpatch"};

std::string where(const fs::path& file, const YAML::Node& node) {
  return file.string() + ":" + std::to_string(node.Mark().line + 1);
}

void reject_unknown_keys(const fs::path& file, const YAML::Node& map,
                         const std::set<std::string>& known) {
  for (const auto& entry : map) {
    const auto key = entry.first.as<std::string>();
    if (!known.contains(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw BuildError(where(file, entry.first) + ": unknown key '" + key + "' (known: " + list +
                       ")");
    }
  }
}

template <typename T>
T required(const fs::path& file, const YAML::Node& map, const std::string& key) {
  const YAML::Node node = map[key];
  if (!node) throw BuildError(where(file, map) + ": missing key '" + key + "'");
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw BuildError(where(file, node) + ": '" + key + "' has the wrong type");
  }
}

bool is_c_identifier(const std::string& s) {
  static const std::regex identifier("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(s, identifier);
}

bool is_cve_id(const std::string& s) {
  static const std::regex cve("CVE-[0-9]{4}-[0-9]{4,}");
  return std::regex_match(s, cve);
}

FixUnit load_fix_unit(const fs::path& dir) {
  const fs::path file = dir / "fix.yaml";
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw BuildError(file.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) throw BuildError(file.string() + ": expected a mapping of keys");
  reject_unknown_keys(file, root, {"summary", "cves", "since", "object", "functions", "callbacks"});

  FixUnit unit;
  unit.id = dir.filename().string();
  unit.dir = dir;
  unit.summary = required<std::string>(file, root, "summary");
  const bool has_c = fs::is_regular_file(dir / "fix.c");
  const bool has_patch = fs::is_regular_file(dir / "fix.patch");
  if (has_c && has_patch) {
    throw BuildError(dir.string() +
                     ": has both fix.c and fix.patch; a fix unit is one or the other");
  }
  if (has_patch) {
    // The diff says which object and functions change; the build finds them.
    for (const char* key : {"object", "functions", "callbacks"}) {
      if (root[key]) {
        throw BuildError(where(file, root[key]) + ": '" + key +
                         "' is not set for a fix.patch unit: lpmon build finds it from the diff");
      }
    }
  }
  if (root["since"]) {
    const auto since = required<long>(file, root, "since");
    if (since < 1) throw BuildError(where(file, root["since"]) + ": 'since' must be >= 1");
    unit.since = static_cast<unsigned>(since);
  }
  if (root["cves"]) {
    unit.cves = required<std::vector<std::string>>(file, root, "cves");
    for (const auto& cve : unit.cves) {
      if (!is_cve_id(cve)) {
        throw BuildError(where(file, root["cves"]) + ": '" + cve +
                         "' is not a CVE id (CVE-YYYY-NNNN)");
      }
    }
  }
  if (has_patch) {
    unit.patch = dir / "fix.patch";
    return unit;
  }
  unit.object = required<std::string>(file, root, "object");
  const YAML::Node functions = root["functions"];
  if (!functions || !functions.IsSequence() || functions.size() == 0) {
    throw BuildError(where(file, root) + ": 'functions' must list at least one function");
  }
  for (const auto& f : functions) {
    if (!f.IsMap()) throw BuildError(where(file, f) + ": a function is a mapping");
    reject_unknown_keys(file, f, {"name", "replacement", "sympos"});
    FixFunction function{required<std::string>(file, f, "name"),
                         required<std::string>(file, f, "replacement")};
    if (f["sympos"]) function.sympos = required<unsigned long>(file, f, "sympos");
    for (const auto* id : {&function.name, &function.replacement}) {
      if (!is_c_identifier(*id))
        throw BuildError(where(file, f) + ": '" + *id + "' is not a C name");
    }
    unit.functions.push_back(std::move(function));
  }
  if (const YAML::Node callbacks = root["callbacks"]) {
    if (!callbacks.IsMap()) throw BuildError(where(file, callbacks) + ": 'callbacks' is a mapping");
    reject_unknown_keys(file, callbacks, {std::begin(kCallbackKinds), std::end(kCallbackKinds)});
    for (const auto& entry : callbacks) {
      const auto function = entry.second.as<std::string>();
      if (!is_c_identifier(function)) {
        throw BuildError(where(file, entry.second) + ": '" + function + "' is not a C name");
      }
      unit.callbacks[entry.first.as<std::string>()] = function;
    }
  }
  if (!fs::is_regular_file(dir / "fix.c")) {
    throw BuildError(dir.string() +
                     ": has neither fix.c (replacement code) nor fix.patch (a diff)");
  }
  return unit;
}

std::string c_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::string c_name(std::string s) {
  std::replace_if(
      s.begin(), s.end(), [](char c) { return !std::isalnum((unsigned char)c); }, '_');
  return s;
}

}  // namespace

void attach_diff_build(FixUnit& unit, const std::vector<std::string>& functions,
                       const fs::path& diff_object) {
  unit.functions.clear();
  unit.diff_object = diff_object;
  for (std::size_t i = 0; i < functions.size(); ++i) {
    const auto colon = functions[i].find(':');
    const auto comma = functions[i].find(',', colon);
    const std::string object = functions[i].substr(0, colon);
    if (!unit.object.empty() && unit.object != object) {
      throw BuildError("fix " + unit.id + " changes both " + unit.object + " and " + object +
                       ": split the diff into one fix unit per kernel object");
    }
    unit.object = object;
    FixFunction f;
    f.name = functions[i].substr(
        colon + 1, comma == std::string::npos ? std::string::npos : comma - colon - 1);
    if (comma != std::string::npos) f.sympos = std::stoul(functions[i].substr(comma + 1));
    f.table = c_name(unit.id);
    f.table_index = i;
    unit.functions.push_back(f);
  }
}

std::vector<FixUnit> load_fix_units(const std::vector<fs::path>& dirs) {
  std::vector<FixUnit> units;
  std::map<std::string, fs::path> seen;
  for (const auto& dir : dirs) {
    if (!fs::is_directory(dir)) throw BuildError(dir.string() + ": not a directory of fix units");
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_directory() || !fs::exists(entry.path() / "fix.yaml")) continue;
      FixUnit unit = load_fix_unit(entry.path());
      if (auto [it, inserted] = seen.emplace(unit.id, unit.dir); !inserted) {
        throw BuildError("fix unit '" + unit.id + "' is defined twice: " + it->second.string() +
                         " and " + unit.dir.string());
      }
      units.push_back(std::move(unit));
    }
  }
  std::sort(units.begin(), units.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return units;
}

FixSelection select_fixes(const std::vector<FixUnit>& units, unsigned version,
                          const std::vector<std::string>& exclude_cves) {
  std::vector<const FixUnit*> carried;
  std::set<std::string> carried_cves;
  for (const auto& unit : units) {
    if (unit.since > version) continue;
    carried.push_back(&unit);
    carried_cves.insert(unit.cves.begin(), unit.cves.end());
  }
  const std::set<std::string> excluded(exclude_cves.begin(), exclude_cves.end());
  for (const auto& cve : excluded) {
    if (!carried_cves.contains(cve)) {
      throw BuildError("cannot exclude " + cve + ": no fix in release " + std::to_string(version) +
                       " addresses it (CVEs it fixes: " +
                       join({carried_cves.begin(), carried_cves.end()}, ", ") + ")");
    }
  }
  FixSelection selection;
  std::set<std::string> fixed;
  for (const FixUnit* unit : carried) {
    const bool drop = std::any_of(unit->cves.begin(), unit->cves.end(),
                                  [&](const auto& cve) { return excluded.contains(cve); });
    if (drop) {
      selection.excluded.push_back(*unit);
    } else {
      selection.included.push_back(*unit);
      fixed.insert(unit->cves.begin(), unit->cves.end());
    }
  }
  if (selection.included.empty()) {
    throw BuildError("nothing left to build: excluding " + join(exclude_cves, ", ") +
                     " leaves no fix in release " + std::to_string(version));
  }
  selection.cves_fixed.assign(fixed.begin(), fixed.end());
  // A fix for several CVEs leaves with any of them: all its CVEs go unfixed.
  std::set<std::string> unfixed;
  for (const auto& unit : selection.excluded) unfixed.insert(unit.cves.begin(), unit.cves.end());
  for (const auto& cve : fixed) unfixed.erase(cve);
  selection.cves_excluded.assign(unfixed.begin(), unfixed.end());
  return selection;
}

std::string generate_patch_source(const FixSelection& selection, const PatchMetadata& metadata) {
  // Objects in a stable order: vmlinux first (klp patches it at once), then modules by name.
  std::map<std::string, std::vector<const FixUnit*>> by_object;
  for (const auto& unit : selection.included) by_object[unit.object].push_back(&unit);
  std::vector<std::string> objects;
  if (by_object.contains("vmlinux")) objects.push_back("vmlinux");
  for (const auto& [object, units] : by_object) {
    if (object != "vmlinux") objects.push_back(object);
  }

  std::ostringstream c;
  c << "// SPDX-License-Identifier: GPL-2.0\n"
    << "/* Generated by lpmon build: livepatch " << metadata.name << " version " << metadata.version
    << ". Do not edit; edit the fix units. */\n"
    << "#define pr_fmt(fmt) KBUILD_MODNAME \": \" fmt\n\n"
    << "#include <linux/kernel.h>\n#include <linux/livepatch.h>\n#include <linux/module.h>\n\n"
    << "/* klp shadow variable ids of lpmon fixes (registry: kmod/fixes/README.md) */\n"
    << "#define LPMON_SHADOW_ID(n) (0x1b9a0000UL + (n))\n\n";
  bool any_diff = false;
  for (const auto& unit : selection.included) {
    c << "/* fix " << unit.id << " (" << join(unit.cves, ", ") << "): " << unit.summary << " */\n";
    if (unit.patch.empty()) {
      c << "#include \"" << unit.id << ".fix.c\"\n\n";
      continue;
    }
    if (!any_diff) {
      // An entry of the function table kpatch's create-diff-object writes (.kpatch.funcs,
      // struct kpatch_patch_func in kpatch's documentation); new_addr is relocated at load.
      c << "struct lpmon_diff_func {\n\tunsigned long new_addr, new_size, old_addr, old_size, "
           "sympos;\n\tconst char *name, *objname;\n};\n";
      any_diff = true;
    }
    c << "extern const struct lpmon_diff_func lpmon_funcs_" << c_name(unit.id) << "[];\n\n";
  }

  for (const auto& object : objects) {
    const auto& units = by_object[object];
    const std::string obj = c_name(object);
    c << "static struct klp_func lpmon_funcs_" << obj << "[] = {\n";
    for (const FixUnit* unit : units) {
      for (const auto& f : unit->functions) {
        c << "\t{\n\t\t.old_name = " << c_string(f.name) << ",\n";
        if (f.table.empty()) c << "\t\t.new_func = " << f.replacement << ",\n";
        c << "\t\t.old_sympos = " << f.sympos << ",\n\t},\n";
      }
    }
    c << "\t{}\n};\n\n";

    // One klp callback per kind and object: call every fix's in order. A refusing
    // pre_patch undoes the fixes before it with their post_unpatch, as klp will not.
    auto fixes_with = [&](const char* kind) {
      std::vector<const FixUnit*> with;
      for (const FixUnit* unit : units) {
        if (unit->callbacks.contains(kind)) with.push_back(unit);
      }
      return with;
    };
    for (const char* kind : kCallbackKinds) {
      const auto with = fixes_with(kind);
      if (with.empty()) continue;
      const std::string fn = "lpmon_" + obj + "_" + kind;
      if (std::string(kind) == "pre_patch") {
        c << "static int " << fn << "(struct klp_object *obj)\n{\n\tint ret;\n\n";
        for (std::size_t i = 0; i < with.size(); ++i) {
          c << "\tret = " << with[i]->callbacks.at(kind) << "(obj);\n\tif (ret) {\n"
            << "\t\tpr_warn(\"fix " << with[i]->id << " refused to patch %s: %d\\n\", "
            << "obj->name ? obj->name : \"vmlinux\", ret);\n";
          for (std::size_t j = i; j-- > 0;) {
            if (with[j]->callbacks.contains("post_unpatch")) {
              c << "\t\t" << with[j]->callbacks.at("post_unpatch") << "(obj);\n";
            }
          }
          c << "\t\treturn ret;\n\t}\n";
        }
        c << "\treturn 0;\n}\n\n";
      } else {
        c << "static void " << fn << "(struct klp_object *obj)\n{\n";
        for (const FixUnit* unit : with) c << "\t" << unit->callbacks.at(kind) << "(obj);\n";
        c << "}\n\n";
      }
    }
  }

  c << "static struct klp_object lpmon_objs[] = {\n";
  for (const auto& object : objects) {
    const std::string obj = c_name(object);
    c << "\t{\n";
    if (object != "vmlinux") c << "\t\t.name = " << c_string(object) << ",\n";
    c << "\t\t.funcs = lpmon_funcs_" << obj << ",\n";
    bool any = false;
    for (const char* kind : kCallbackKinds) {
      for (const FixUnit* unit : by_object[object]) {
        if (!unit->callbacks.contains(kind)) continue;
        if (!any) c << "\t\t.callbacks = {\n";
        any = true;
        c << "\t\t\t." << kind << " = lpmon_" << obj << "_" << kind << ",\n";
        break;
      }
    }
    if (any) c << "\t\t},\n";
    c << "\t},\n";
  }
  c << "\t{}\n};\n\n";

  c << "static struct klp_patch lpmon_patch = {\n\t.mod = THIS_MODULE,\n\t.objs = lpmon_objs,\n"
    << "\t/* cumulative: atomically replaces every patch loaded before it */\n"
    << "\t.replace = true,\n};\n\n"
    << "static int __init lpmon_patch_init(void)\n{\n";
  // Diff units' replacements live in the linked diff objects: take each from its table
  // entry, and refuse to load if the table does not hold the function the build named.
  for (const auto& object : objects) {
    std::size_t i = 0;
    for (const FixUnit* unit : by_object[object]) {
      for (const auto& f : unit->functions) {
        if (!f.table.empty()) {
          const std::string entry =
              "lpmon_funcs_" + f.table + "[" + std::to_string(f.table_index) + "]";
          const std::string func = "lpmon_funcs_" + c_name(object) + "[" + std::to_string(i) + "]";
          c << "\tif (strcmp(" << entry << ".name, " << func << ".old_name))\n\t\treturn -EINVAL;\n"
            << "\t" << func << ".new_func = (void *)" << entry << ".new_addr;\n";
        }
        ++i;
      }
    }
  }
  c << "\treturn klp_enable_patch(&lpmon_patch);\n}\n\n"
    << "static void __exit lpmon_patch_exit(void)\n{\n}\n\n"
    << "module_init(lpmon_patch_init);\nmodule_exit(lpmon_patch_exit);\n\n";

  std::vector<std::string> fix_ids;
  for (const auto& unit : selection.included) fix_ids.push_back(unit.id);
  // "object:function[,sympos]" in klp_func order: lpmon inspect lists what a patch replaces
  // without the target kernel's BTF, which decoding the klp_func arrays needs.
  std::vector<std::string> functions;
  for (const auto& object : objects) {
    for (const FixUnit* unit : by_object[object]) {
      for (const auto& f : unit->functions) {
        functions.push_back(object + ":" + f.name +
                            (f.sympos ? "," + std::to_string(f.sympos) : ""));
      }
    }
  }
  const std::vector<std::pair<std::string, std::string>> info{
      {"lpmon_functions", join(functions, " ")},
      {"lpmon_cves", join(selection.cves_fixed, ",")},
      {"lpmon_excluded_cves", join(selection.cves_excluded, ",")},
      {"lpmon_fixes", join(fix_ids, ",")},
      {"lpmon_target_release", metadata.target_release},
      {"lpmon_built", metadata.built_at},
  };
  c << "/* Readable without loading (modinfo, lpmon inspect) ... */\n";
  for (const auto& [key, value] : info) {
    c << "MODULE_INFO(" << key << ", " << c_string(value) << ");\n";
  }
  c << "/* ... and once loaded, under /sys/module/" << metadata.name << "/parameters/. */\n";
  for (const auto& [key, value] : info) {
    const std::string param = key.substr(std::string("lpmon_").size());
    c << "static char " << key << "[] = " << c_string(value) << ";\n"
      << "module_param_string(" << param << ", " << key << ", sizeof(" << key << "), 0444);\n";
  }
  c << "MODULE_VERSION(\"" << metadata.version << "\");\n"
    << "MODULE_LICENSE(\"GPL\");\n"
    << "MODULE_DESCRIPTION(" << c_string("lpmon cumulative livepatch: " + join(fix_ids, ", "))
    << ");\n"
    << "MODULE_INFO(livepatch, \"Y\");\n";
  return c.str();
}

}  // namespace lpmon::build
