#include "lpmon/livepatch_state.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "fake_kernel_tree.hpp"
#include "fixtures.hpp"
#include "lpmon/errors.hpp"

namespace lpmon {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernelTree;
using testing::fixture;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

std::vector<std::string> names(const std::vector<LivepatchPatch>& patches) {
  std::vector<std::string> result;
  for (const auto& patch : patches) result.push_back(patch.name);
  return result;
}

TEST(LivepatchSupport, AbsentWithoutLivepatchDirectory) {
  FakeKernelTree tree;
  tree.set_kernel("6.18.44", 0);

  EXPECT_FALSE(livepatch_supported(tree.paths()));
  try {
    read_patches(tree.paths());
    FAIL() << "read_patches must refuse a kernel without livepatch";
  } catch (const LivepatchUnsupportedError& error) {
    EXPECT_EQ(std::string(error.what()),
              "this kernel (6.18.44) has no livepatch support: CONFIG_LIVEPATCH is off (no " +
                  tree.livepatch_dir().string() + ")");
  }
}

TEST(LivepatchSupport, UnsupportedMessageSurvivesUnreadableRelease) {
  FakeKernelTree tree;  // no osrelease either
  try {
    require_livepatch(tree.paths());
    FAIL() << "require_livepatch must throw";
  } catch (const LivepatchUnsupportedError& error) {
    EXPECT_THAT(error.what(), HasSubstr("(release unknown) has no livepatch support"));
  }
}

TEST(LivepatchSupport, PresentWithEmptyLivepatchDirectory) {
  FakeKernelTree tree;
  tree.enable_livepatch();

  EXPECT_TRUE(livepatch_supported(tree.paths()));
  EXPECT_NO_THROW(require_livepatch(tree.paths()));
  EXPECT_THAT(read_patches(tree.paths()), IsEmpty());
}

TEST(ReadPatches, Linux61LayoutHasNoReplaceOrStackOrder) {
  const auto patches = read_patches(fixture("linux-6.1-patched"));

  ASSERT_THAT(patches, SizeIs(1));
  const LivepatchPatch& patch = patches[0];
  EXPECT_EQ(patch.name, "livepatch_sample");
  EXPECT_TRUE(patch.enabled);
  EXPECT_FALSE(patch.transition);
  EXPECT_EQ(patch.replace, std::nullopt);
  EXPECT_EQ(patch.stack_order, std::nullopt);
  EXPECT_THAT(patch.errors, IsEmpty());
  ASSERT_THAT(patch.objects, SizeIs(1));
  EXPECT_EQ(patch.objects[0].name, "vmlinux");
  EXPECT_EQ(patch.objects[0].patched, true);
  EXPECT_THAT(patch.objects[0].funcs, ElementsAre(LivepatchFunc{"cmdline_proc_show", 1}));
}

TEST(ReadPatches, NewerLayoutHasReplaceAndStackOrder) {
  const auto patches = read_patches(fixture("linux-6.14-transition"));

  ASSERT_THAT(names(patches), ElementsAre("kpatch_cve_a", "kpatch_cve_b"));
  const LivepatchPatch& older = patches[0];
  EXPECT_EQ(older.replace, false);
  EXPECT_EQ(older.stack_order, 1);
  EXPECT_THAT(older.errors, IsEmpty());
  ASSERT_THAT(older.objects, SizeIs(2));
  EXPECT_EQ(older.objects[0].name, "ext4");
  EXPECT_THAT(older.objects[0].funcs, ElementsAre(LivepatchFunc{"ext4_fill_super", 1}));
  EXPECT_EQ(older.objects[1].name, "vmlinux");
  EXPECT_THAT(older.objects[1].funcs, ElementsAre(LivepatchFunc{"cmdline_proc_show", 1},
                                                  LivepatchFunc{"meminfo_proc_show", 1}));

  const LivepatchPatch& cumulative = patches[1];
  EXPECT_EQ(cumulative.replace, true);
  EXPECT_EQ(cumulative.stack_order, 2);
  EXPECT_TRUE(cumulative.transition);
  EXPECT_THAT(cumulative.objects[0].funcs,
              ElementsAre(LivepatchFunc{"cmdline_proc_show", 1}, LivepatchFunc{"show_stat", 2}));
}

TEST(ReadPatches, ObjectWithoutPatchedFileIsNotAnError) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::add_func(patch_dir, "nfsd", "nfsd_open", 1);

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(patches[0].errors, IsEmpty());
  ASSERT_THAT(patches[0].objects, SizeIs(1));
  EXPECT_EQ(patches[0].objects[0].name, "nfsd");
  EXPECT_EQ(patches[0].objects[0].patched, std::nullopt);
  EXPECT_THAT(patches[0].objects[0].funcs, ElementsAre(LivepatchFunc{"nfsd_open", 1}));
}

TEST(ReadPatches, PatchInTransition) {
  FakeKernelTree tree;
  tree.add_patch("lp", false, true);

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_FALSE(patches[0].enabled);
  EXPECT_TRUE(patches[0].transition);
  EXPECT_EQ(overall_state(patches), LivepatchState::in_transition);
}

TEST(ReadPatches, MalformedEnabledIsReportedAndTheRestStillRead) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, true);
  FakeKernelTree::write(patch_dir / "enabled", "abc");
  FakeKernelTree::add_func(patch_dir, "vmlinux", "cmdline_proc_show", 1);

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(patches[0].errors, ElementsAre((patch_dir / "enabled").string() +
                                             ": invalid value \"abc\" (expected 0 or 1)"));
  EXPECT_TRUE(patches[0].transition);
  EXPECT_THAT(patches[0].objects, SizeIs(1));
  EXPECT_EQ(overall_state(patches), LivepatchState::unknown);
}

TEST(ReadPatches, MissingRequiredFileIsAnError) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, false);
  std::filesystem::remove(patch_dir / "transition");

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(patches[0].errors,
              ElementsAre((patch_dir / "transition").string() + ": No such file or directory"));
}

TEST(ReadPatches, UnreadableFileIsAnError) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, false);
  // A directory cannot be read as a file, even by root, so this works in any test environment.
  std::filesystem::create_directory(patch_dir / "replace");

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(patches[0].errors,
              ElementsAre((patch_dir / "replace").string() + ": Is a directory"));
  EXPECT_EQ(patches[0].replace, std::nullopt);
}

TEST(ReadPatches, MalformedStackOrderAndFunctionDirectoryAreErrors) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::write(patch_dir / "stack_order", "first");
  std::filesystem::create_directories(patch_dir / "vmlinux" / "no_sympos");

  const auto patches = read_patches(tree.paths());

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(patches[0].errors,
              UnorderedElementsAre(HasSubstr("stack_order: invalid value \"first\""),
                                   HasSubstr("no_sympos: not a function directory")));
}

TEST(ReadPatches, MultiplePatchesSortedByName) {
  FakeKernelTree tree;
  for (const char* name : {"zz_last", "aa_first", "mm_middle"}) tree.add_patch(name, true, false);

  EXPECT_THAT(names(read_patches(tree.paths())), ElementsAre("aa_first", "mm_middle", "zz_last"));
}

TEST(ReadPatches, FunctionsSortedByNameThenSympos) {
  FakeKernelTree tree;
  const auto patch_dir = tree.add_patch("lp", true, false);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "show", 2);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "alpha", 1);
  FakeKernelTree::add_func(patch_dir, "vmlinux", "show", 1);

  const auto patches = read_patches(tree.paths());

  EXPECT_THAT(
      patches.at(0).objects.at(0).funcs,
      ElementsAre(LivepatchFunc{"alpha", 1}, LivepatchFunc{"show", 1}, LivepatchFunc{"show", 2}));
}

TEST(ReadPatches, EntryThatVanishedAfterListingIsSkipped) {
  FakeKernelTree tree;
  tree.add_patch("present", true, false);
  // What readdir returns for a patch whose directory is gone by the time it is opened.
  std::filesystem::create_directory_symlink(tree.livepatch_dir() / "removed",
                                            tree.livepatch_dir() / "vanished");

  const auto patches = read_patches(tree.paths());

  EXPECT_THAT(names(patches), ElementsAre("present"));
  EXPECT_THAT(patches[0].errors, IsEmpty());
}

// The kernel removes a patch's whole directory at once when its module goes away; rename()
// does the same to the fake tree. Whenever it lands relative to read_patches, the result must
// hold either the complete patch or nothing of it, and never errors.
TEST(ReadPatches, PatchRemovedWhileReadingIsCompleteOrAbsent) {
  constexpr int kRounds = 200;
  constexpr int kFuncs = 40;
  FakeKernelTree tree;
  tree.add_patch("stable", true, false);
  for (int round = 0; round < kRounds; ++round) {
    const auto going = tree.add_patch("going", true, false);
    for (int func = 0; func < kFuncs; ++func) {
      FakeKernelTree::add_func(going, "vmlinux", "func" + std::to_string(func), 1);
    }
    const auto graveyard = tree.livepatch_dir().parent_path() / ("removed" + std::to_string(round));
    std::thread remover([&] { std::filesystem::rename(going, graveyard); });
    const auto patches = read_patches(tree.paths());
    remover.join();

    ASSERT_GE(patches.size(), 1u);
    EXPECT_EQ(patches.back().name, "stable");
    for (const LivepatchPatch& patch : patches) {
      ASSERT_THAT(patch.errors, IsEmpty()) << "round " << round;
      if (patch.name != "going") continue;
      ASSERT_THAT(patch.objects, SizeIs(1)) << "round " << round;
      EXPECT_THAT(patch.objects[0].funcs, SizeIs(kFuncs)) << "round " << round;
    }
  }
}

TEST(OverallState, DecidedByErrorsThenTransitionThenEnabled) {
  const LivepatchPatch enabled{.name = "a", .enabled = true};
  const LivepatchPatch disabled{.name = "b", .enabled = false};
  const LivepatchPatch moving{.name = "c", .enabled = true, .transition = true};
  const LivepatchPatch broken{.name = "d", .enabled = true, .errors = {"d/enabled: bad"}};

  EXPECT_EQ(overall_state({}), LivepatchState::unpatched);
  EXPECT_EQ(overall_state({disabled}), LivepatchState::unpatched);
  EXPECT_EQ(overall_state({disabled, enabled}), LivepatchState::patched);
  EXPECT_EQ(overall_state({enabled, moving}), LivepatchState::in_transition);
  EXPECT_EQ(overall_state({moving, broken}), LivepatchState::unknown);
}

TEST(OverallState, Names) {
  EXPECT_EQ(to_string(LivepatchState::patched), "patched");
  EXPECT_EQ(to_string(LivepatchState::in_transition), "in transition");
  EXPECT_EQ(to_string(LivepatchState::unpatched), "unpatched");
  EXPECT_EQ(to_string(LivepatchState::unknown), "unknown");
}

}  // namespace
}  // namespace lpmon

namespace lpmon {
namespace {

TEST(ReadPatches, LpmonBuildMetadataComesFromTheModule) {
  FakeKernelTree tree;
  tree.set_kernel("6.1.0", 0);
  tree.add_patch("acme_v2", true, false);
  tree.add_patch("plain", true, false);
  const auto module = tree.paths().sysfs / "module" / "acme_v2";
  FakeKernelTree::write(module / "version", "2");
  FakeKernelTree::write(module / "parameters" / "cves", "CVE-2099-0001,CVE-2099-0003");
  FakeKernelTree::write(module / "parameters" / "excluded_cves", "CVE-2099-0002");

  const auto patches = read_patches(tree.paths());

  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[0].version, "2");
  EXPECT_EQ(patches[0].cves, (std::vector<std::string>{"CVE-2099-0001", "CVE-2099-0003"}));
  EXPECT_EQ(patches[0].excluded_cves, (std::vector<std::string>{"CVE-2099-0002"}));
  EXPECT_TRUE(patches[0].errors.empty());
  // A patch not built by lpmon build has none of it, and that is no error.
  EXPECT_EQ(patches[1].version, std::nullopt);
  EXPECT_TRUE(patches[1].cves.empty());
  EXPECT_TRUE(patches[1].errors.empty());
}

}  // namespace
}  // namespace lpmon

namespace lpmon {
namespace {

namespace fs = std::filesystem;

// A loaded patch as the kernel shows it once its module's init has returned: functions
// under vmlinux and lpmon_target, each object with its 'patched' flag.
fs::path add_live_patch(const FakeKernelTree& tree, const std::string& name,
                        const std::vector<std::string>& funcs, const std::string& version) {
  const auto dir = tree.add_patch(name, true, false);
  for (const auto& func : funcs) FakeKernelTree::add_func(dir, "vmlinux", func, 1);
  FakeKernelTree::add_func(dir, "lpmon_target", "lpmon_target_work", 1);
  FakeKernelTree::write(dir / "vmlinux" / "patched", "1");
  FakeKernelTree::write(dir / "lpmon_target" / "patched", "0");
  FakeKernelTree::write(tree.paths().sysfs / "module" / name / "version", version);
  tree.set_module_state(name, "live");
  return dir;
}

std::vector<std::string> func_names(const LivepatchPatch& patch) {
  std::vector<std::string> result;
  for (const auto& object : patch.objects) {
    for (const auto& func : object.funcs) result.push_back(object.name + ":" + func.name);
  }
  return result;
}

// The kernel never adds a function to a loaded patch; the fake tree does, to show whether a
// read listed the functions again or took them from the cache.
TEST(CachedReadPatches, StructureOfALivePatchIsReadOnce) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  PatchStructureCache cache;
  ASSERT_THAT(func_names(read_patches(tree.paths(), &cache).at(0)),
              ElementsAre("lpmon_target:lpmon_target_work", "vmlinux:alpha"));

  FakeKernelTree::add_func(dir, "vmlinux", "beta", 1);
  FakeKernelTree::write(dir / "enabled", "0");
  FakeKernelTree::write(dir / "transition", "1");
  const auto patches = read_patches(tree.paths(), &cache);

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(func_names(patches[0]),
              ElementsAre("lpmon_target:lpmon_target_work", "vmlinux:alpha"));
  EXPECT_FALSE(patches[0].enabled);
  EXPECT_TRUE(patches[0].transition);
  EXPECT_EQ(patches[0].version, "1");
  EXPECT_THAT(patches[0].errors, IsEmpty());
  // Without a cache, the same tree reads differently: the cache was used.
  EXPECT_THAT(func_names(read_patches(tree.paths()).at(0)), SizeIs(3));
}

TEST(CachedReadPatches, ObjectPatchedFlagIsReadEachTime) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  PatchStructureCache cache;
  ASSERT_EQ(read_patches(tree.paths(), &cache).at(0).objects.at(0).patched, false);

  // lpmon_target (the first object) is loaded: klp patches it and flips the flag.
  FakeKernelTree::write(dir / "lpmon_target" / "patched", "1");
  EXPECT_EQ(read_patches(tree.paths(), &cache).at(0).objects.at(0).patched, true);
  FakeKernelTree::write(dir / "lpmon_target" / "patched", "0");
  EXPECT_EQ(read_patches(tree.paths(), &cache).at(0).objects.at(0).patched, false);
}

TEST(CachedReadPatches, NewerKernelsAttributesStayRead) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  FakeKernelTree::write(dir / "replace", "1");
  FakeKernelTree::write(dir / "stack_order", "2");
  PatchStructureCache cache;
  ASSERT_EQ(read_patches(tree.paths(), &cache).at(0).stack_order, 2);

  // A patch below this one was removed.
  FakeKernelTree::write(dir / "stack_order", "1");
  const auto patch = read_patches(tree.paths(), &cache).at(0);
  EXPECT_EQ(patch.stack_order, 1);
  EXPECT_EQ(patch.replace, true);
}

TEST(CachedReadPatches, PatchReplacedByAnotherOfTheSameNameIsReadAfresh) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  PatchStructureCache cache;
  ASSERT_EQ(read_patches(tree.paths(), &cache).at(0).version, "1");

  // Built aside and moved in, so that, as on sysfs, the new directory has another inode
  // than the old one (a real filesystem could hand the freed inode out again at once).
  const auto staging = tree.livepatch_dir().parent_path() / "staging";
  fs::create_directories(staging);
  FakeKernelTree::write(staging / "enabled", "1");
  FakeKernelTree::write(staging / "transition", "0");
  FakeKernelTree::add_func(staging, "vmlinux", "gamma", 1);
  FakeKernelTree::add_func(staging, "vmlinux", "delta", 1);
  fs::remove_all(dir);
  fs::rename(staging, dir);
  FakeKernelTree::write(tree.paths().sysfs / "module" / "lp" / "version", "2");
  const auto patches = read_patches(tree.paths(), &cache);

  ASSERT_THAT(patches, SizeIs(1));
  EXPECT_THAT(func_names(patches[0]), ElementsAre("vmlinux:delta", "vmlinux:gamma"));
  EXPECT_EQ(patches[0].version, "2");
  EXPECT_EQ(patches[0].objects.at(0).patched, std::nullopt);
  EXPECT_THAT(patches[0].errors, IsEmpty());
}

TEST(CachedReadPatches, PatchWhoseModuleIsStillComingIsNotRemembered) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  tree.set_module_state("lp", "coming");
  PatchStructureCache cache;
  ASSERT_THAT(func_names(read_patches(tree.paths(), &cache).at(0)), SizeIs(2));

  // klp_init_patch() goes on adding objects and functions until the module's init returns.
  FakeKernelTree::add_func(dir, "vmlinux", "beta", 1);
  EXPECT_THAT(func_names(read_patches(tree.paths(), &cache).at(0)), SizeIs(3));
  tree.set_module_state("lp", "live");
  EXPECT_THAT(func_names(read_patches(tree.paths(), &cache).at(0)), SizeIs(3));
}

TEST(CachedReadPatches, RemovedPatchIsForgotten) {
  FakeKernelTree tree;
  tree.enable_livepatch();
  const auto dir = add_live_patch(tree, "lp", {"alpha"}, "1");
  add_live_patch(tree, "stays", {"beta"}, "1");
  PatchStructureCache cache;
  ASSERT_THAT(names(read_patches(tree.paths(), &cache)), ElementsAre("lp", "stays"));

  fs::rename(dir, tree.livepatch_dir().parent_path() / "graveyard");
  EXPECT_THAT(names(read_patches(tree.paths(), &cache)), ElementsAre("stays"));
  // Back under the same name (the same directory, hence the same inode: only a fake tree
  // can do this): forgotten means read afresh, so the added function shows.
  FakeKernelTree::add_func(tree.livepatch_dir().parent_path() / "graveyard", "vmlinux", "beta", 1);
  fs::rename(tree.livepatch_dir().parent_path() / "graveyard", dir);
  EXPECT_THAT(func_names(read_patches(tree.paths(), &cache).at(0)), SizeIs(3));
}

// As ReadPatches.PatchRemovedWhileReadingIsCompleteOrAbsent, with the patch already
// remembered, so that the removal lands in the reads of its changing state.
TEST(CachedReadPatches, PatchRemovedWhileReadingIsCompleteOrAbsent) {
  constexpr int kRounds = 200;
  FakeKernelTree tree;
  tree.enable_livepatch();
  add_live_patch(tree, "stable", {"alpha"}, "1");
  PatchStructureCache cache;
  for (int round = 0; round < kRounds; ++round) {
    const auto going = add_live_patch(tree, "going", {"beta", "gamma"}, "1");
    ASSERT_THAT(names(read_patches(tree.paths(), &cache)), ElementsAre("going", "stable"));
    const auto graveyard = tree.livepatch_dir().parent_path() / ("removed" + std::to_string(round));
    std::thread remover([&] { fs::rename(going, graveyard); });
    const auto patches = read_patches(tree.paths(), &cache);
    remover.join();

    ASSERT_GE(patches.size(), 1u);
    EXPECT_EQ(patches.back().name, "stable");
    for (const LivepatchPatch& patch : patches) {
      ASSERT_THAT(patch.errors, IsEmpty()) << "round " << round;
      EXPECT_THAT(func_names(patch), SizeIs(patch.name == "going" ? 3 : 2)) << "round " << round;
      ASSERT_THAT(patch.objects, SizeIs(2)) << "round " << round;
      EXPECT_TRUE(patch.objects[1].patched.has_value()) << "round " << round;
    }
    EXPECT_THAT(names(read_patches(tree.paths(), &cache)), ElementsAre("stable"));
  }
}

}  // namespace
}  // namespace lpmon

namespace lpmon {
namespace {

TEST(ReadPatchTransition, ReadsBothAttributesAndTellsGoneFromUnreadable) {
  using Presence = PatchTransitionState::Presence;
  testing::FakeKernelTree tree;
  tree.enable_livepatch();
  tree.add_patch("moving", true, true);
  tree.add_patch("reversed", false, false);
  const auto broken = tree.add_patch("broken", true, false);
  std::filesystem::remove(broken / "transition");
  std::filesystem::create_directory(broken / "transition");  // read() fails with EISDIR
  const auto odd = tree.add_patch("odd", true, false);
  testing::FakeKernelTree::write(odd / "enabled", "maybe");

  const auto moving = read_patch_transition(tree.paths(), "moving");
  EXPECT_EQ(moving.presence, Presence::present);
  EXPECT_TRUE(moving.transition);
  EXPECT_TRUE(moving.enabled);
  const auto reversed = read_patch_transition(tree.paths(), "reversed");
  EXPECT_EQ(reversed.presence, Presence::present);
  EXPECT_FALSE(reversed.transition);
  EXPECT_FALSE(reversed.enabled);
  EXPECT_EQ(read_patch_transition(tree.paths(), "freed").presence, Presence::gone);
  const auto unreadable = read_patch_transition(tree.paths(), "broken");
  EXPECT_EQ(unreadable.presence, Presence::unreadable);
  EXPECT_THAT(unreadable.error, ::testing::HasSubstr("broken/transition"));
  EXPECT_EQ(read_patch_transition(tree.paths(), "odd").presence, Presence::unreadable);
}

}  // namespace
}  // namespace lpmon
