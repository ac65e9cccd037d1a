#pragma once

#include <memory>

namespace lpmon::bpf {

// The functions bpftool generates for skeleton T, named <T>__open and so on. Specialised
// once per skeleton with LPMON_BPF_SKELETON_OPS, next to the code that includes its header.
template <typename T>
struct SkeletonOps;

#define LPMON_BPF_SKELETON_OPS(skel)                         \
  template <>                                                \
  struct lpmon::bpf::SkeletonOps<skel> {                     \
    static skel* open() { return skel##__open(); }           \
    static int load(skel* s) { return skel##__load(s); }     \
    static int attach(skel* s) { return skel##__attach(s); } \
    static void destroy(skel* s) { skel##__destroy(s); }     \
  }

// Owns a generated libbpf skeleton. The order is libbpf's: open, configure (through get()),
// load, attach; destruction detaches and frees everything.
template <typename T>
class Skeleton {
 public:
  // nullptr when libbpf could not open the embedded object; errno says why.
  Skeleton() : skel_(SkeletonOps<T>::open()) {}

  explicit operator bool() const { return skel_ != nullptr; }
  T* get() const { return skel_.get(); }
  T* operator->() const { return skel_.get(); }

  // libbpf's convention: 0, or a negative errno.
  int load() { return SkeletonOps<T>::load(skel_.get()); }
  int attach() { return SkeletonOps<T>::attach(skel_.get()); }

 private:
  struct Destroy {
    void operator()(T* s) const { SkeletonOps<T>::destroy(s); }
  };
  std::unique_ptr<T, Destroy> skel_;
};

}  // namespace lpmon::bpf
