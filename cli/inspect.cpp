#include "inspect.hpp"

#include <algorithm>
#include <memory>
#include <sstream>

#include "command.hpp"
#include "lpmon/kernel_info.hpp"
#include "lpmon/rollout/preflight.hpp"
#include "text_report.hpp"

namespace lpmon::cli {
namespace {

using nlohmann::json;

// Text from a module file reaches the terminal: no control characters.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

void field(std::ostream& out, std::string_view label, std::string_view value,
           std::size_t indent = 0) {
  text_report::field(out, label, printable(value), indent);
}

void continuation(std::ostream& out, std::string_view value) {
  text_report::continuation(out, printable(value));
}

std::string join(const std::vector<std::string>& items, std::string_view none = "none") {
  if (items.empty()) return std::string(none);
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string function_text(const PatchedFunction& f) {
  return f.sympos ? f.name + "," + std::to_string(f.sympos) : f.name;
}

json nullable(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json nullable(const std::string& value) {
  return value.empty() ? json(nullptr) : json(value);
}

json source_id(PatchSource source) {
  switch (source) {
    case PatchSource::elf:
      return "elf";
    case PatchSource::lpmon_build:
      return "lpmon_build";
    case PatchSource::unknown:
      break;
  }
  return nullptr;
}

std::string replace_text(const PatchContents& patch) {
  if (!patch.replace) return "unknown (see Functions)";
  if (!*patch.replace) return "no: stacks on the patches loaded before it";
  return std::string("yes: atomically replaces every patch loaded before it") +
         (patch.replace_source == PatchSource::lpmon_build ? " (lpmon build always sets it)" : "");
}

std::string functions_summary(const PatchContents& patch) {
  if (!patch.objects) return "unknown: " + patch.elf_unknown_reason;
  std::size_t functions = 0;
  for (const auto& object : *patch.objects) functions += object.functions.size();
  std::string text = std::to_string(functions) + " in " + std::to_string(patch.objects->size()) +
                     (patch.objects->size() == 1 ? " object" : " objects");
  if (patch.objects_source == PatchSource::elf) {
    text += " (klp_patch at " + patch.klp_patch_location;
    if (patch.layout_btf) text += ", layout from " + patch.layout_btf->string();
    return text + ")";
  }
  return text + " (lpmon_functions in .modinfo)";
}

void render_signature(std::ostream& out, const ModuleSignature& signature) {
  if (!signature.is_signed) {
    field(out, "Signed", "no");
    return;
  }
  std::string summary = "yes (" + signature.id_type;
  if (!signature.hash_algorithm.empty()) summary += ", " + signature.hash_algorithm;
  field(out, "Signed", summary + ")");
  if (!signature.signer.empty()) field(out, "Signer", signature.signer, 2);
  if (!signature.key_id.empty()) field(out, "Key", signature.key_id, 2);
}

// Without a description the check does not append ":FILE" to the FILE placeholder in --help.
const CLI::Validator& existing_file() {
  static const CLI::Validator validator = CLI::Validator(CLI::ExistingFile).description("");
  return validator;
}

}  // namespace

ExitCode inspect_exit_code(const InspectReport& report) {
  return rollout::module_exit_code(report.module, report.kernel);
}

std::string inspect_problem(const InspectReport& report) {
  return rollout::module_problem(report.module, report.kernel);
}

json inspect_to_json(const InspectReport& report) {
  const ModuleInfo& m = report.module;
  const PatchContents& patch = m.patch;
  json objects = nullptr;
  if (patch.objects) {
    objects = json::array();
    for (const auto& object : *patch.objects) {
      json functions = json::array();
      for (const auto& f : object.functions) {
        functions.push_back({{"name", f.name}, {"sympos", f.sympos}});
      }
      objects.push_back({{"name", object.name}, {"functions", functions}});
    }
  }
  json lpmon = nullptr;
  if (m.lpmon) {
    lpmon = {
        {"cves", m.lpmon->cves},   {"excluded_cves", m.lpmon->excluded_cves},
        {"fixes", m.lpmon->fixes}, {"target_release", m.lpmon->target_release},
        {"built", m.lpmon->built},
    };
  }
  json modinfo = json::array();
  for (const auto& [key, value] : m.modinfo) modinfo.push_back({{"key", key}, {"value", value}});
  const ModuleSignature& sig = m.signature;
  return {
      {"file", m.file},
      {"name", m.name},
      {"livepatch", m.livepatch},
      {"vermagic", nullable(m.vermagic)},
      {"release", nullable(m.release)},
      {"kernel",
       {{"release", report.kernel_release},
        {"matches", report.kernel.matches},
        {"verdict", report.kernel.verdict}}},
      {"license", nullable(m.license)},
      {"description", nullable(m.description)},
      {"version", nullable(m.version)},
      {"srcversion", nullable(m.srcversion)},
      {"depends", m.depends},
      {"signature",
       {{"signed", sig.is_signed},
        {"id_type", nullable(sig.id_type)},
        {"signer", nullable(sig.signer)},
        {"key_id", nullable(sig.key_id)},
        {"hash_algorithm", nullable(sig.hash_algorithm)}}},
      {"btf", m.has_btf},
      {"modversions", m.has_modversions},
      {"replace", patch.replace ? json(*patch.replace) : json(nullptr)},
      {"replace_source", source_id(patch.replace_source)},
      {"objects", objects},
      {"objects_source", source_id(patch.objects_source)},
      {"klp_patch", nullable(patch.klp_patch_location)},
      {"layout_btf", patch.layout_btf ? json(patch.layout_btf->string()) : json(nullptr)},
      {"elf_unknown_reason", nullable(patch.elf_unknown_reason)},
      {"lpmon", lpmon},
      {"notes", m.notes},
      {"modinfo", modinfo},
  };
}

std::string render_inspect_text(const InspectReport& report) {
  const ModuleInfo& m = report.module;
  std::ostringstream out;
  field(out, "Module", m.name.empty() ? "-" : m.name);
  field(out, "File", m.file);
  field(out, "Livepatch", m.livepatch ? "yes" : "no");
  field(out, "Vermagic", m.vermagic.value_or("-"));
  field(out, "Kernel",
        report.kernel.matches ? "matches " + report.kernel_release : report.kernel.verdict);
  field(out, "License", m.license.value_or("-"));
  field(out, "Description", m.description.value_or("-"));
  field(out, "Version", m.version.value_or("-"));
  field(out, "Srcversion", m.srcversion.value_or("-"));
  field(out, "Depends", join(m.depends));
  render_signature(out, m.signature);
  field(out, "BTF", m.has_btf ? "yes" : "no");
  field(out, "Modversions", m.has_modversions ? "yes" : "no");
  if (m.livepatch) {
    field(out, "Replace", replace_text(m.patch));
    field(out, "Functions", functions_summary(m.patch));
    if (m.patch.objects) {
      for (const auto& object : *m.patch.objects) {
        if (object.functions.empty()) {
          field(out, object.name, "(none)", 2);
          continue;
        }
        field(out, object.name, function_text(object.functions.front()), 2);
        for (std::size_t i = 1; i < object.functions.size(); ++i) {
          continuation(out, function_text(object.functions[i]));
        }
      }
    }
  }
  if (m.lpmon) {
    out << "lpmon build:\n";
    field(out, "Built for", m.lpmon->target_release, 2);
    field(out, "Built at", m.lpmon->built, 2);
    field(out, "CVEs fixed", join(m.lpmon->cves), 2);
    field(out, "CVEs excluded", join(m.lpmon->excluded_cves), 2);
    field(out, "Fixes", join(m.lpmon->fixes), 2);
  }
  for (const auto& note : m.notes) field(out, "Note", note);
  return out.str();
}

Command add_inspect_command(CLI::App& lpmon) {
  struct Options {
    std::string module;
    bool json = false;
    std::optional<std::string> kernel_release;
    InspectOptions inspect;
  };
  auto options = std::make_shared<Options>();
  CLI::App* inspect = lpmon.add_subcommand(
      "inspect", "Show what a livepatch module file is and replaces, without loading it");
  // Not CLI::ExistingFile: a missing module has its own exit code, not the usage error's.
  inspect->add_option("module", options->module, "The module file (.ko)")
      ->type_name("PATCH.ko")
      ->required();
  inspect->add_flag("--json", options->json, "Print one JSON object instead of text");
  inspect
      ->add_option("--kernel-release", options->kernel_release,
                   "Check vermagic against this release (default: the running kernel's)")
      ->type_name("REL");
  inspect
      ->add_option("--kernel-btf", options->inspect.kernel_btf,
                   "vmlinux or raw BTF of the module's kernel, for the klp struct layout "
                   "(default: found by the module's release)")
      ->type_name("FILE")
      ->check(existing_file());
  add_kernel_root_options(*inspect, options->inspect.paths);
  return {inspect, [options](std::ostream& out, std::ostream& err) {
            InspectReport report;
            try {
              ModuleInspector inspector(options->inspect);
              report.module = inspector.inspect(options->module);
            } catch (const ModuleFileError& e) {
              err << "lpmon inspect: " << e.what() << '\n';
              return to_int(rollout::module_file_exit_code(e.problem()));
            }
            report.kernel_release = options->kernel_release
                                        ? *options->kernel_release
                                        : kernel_release(options->inspect.paths);
            report.kernel = check_vermagic(report.module, report.kernel_release);
            if (options->json) {
              // Module strings need not be UTF-8; replace rather than throw.
              out << inspect_to_json(report).dump(2, ' ', false, json::error_handler_t::replace)
                  << '\n';
            } else {
              out << render_inspect_text(report);
            }
            const ExitCode code = inspect_exit_code(report);
            if (code != ExitCode::ok) err << "lpmon inspect: " << inspect_problem(report) << '\n';
            return to_int(code);
          }};
}

}  // namespace lpmon::cli
