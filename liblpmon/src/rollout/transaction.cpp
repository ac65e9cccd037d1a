// The lock, the journal and the signal guard of apply and revert.
#include "lpmon/rollout/transaction.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace lpmon::rollout {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// Creates `dir` (and its parents) for lpmon's own files: readable by all, written by root.
std::optional<std::string> make_dir(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return "cannot create " + dir.string() + ": " + error.message();
  return std::nullopt;
}

// fsync of a file or directory by path.
std::optional<std::string> sync_path(const fs::path& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return "cannot open " + path.string() + " to sync it: " + errno_text(errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return "cannot sync " + path.string() + ": " + errno_text(error);
  return std::nullopt;
}

std::optional<pid_t> read_pid(int fd) {
  char buffer[32] = {};
  const ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return std::nullopt;
  try {
    const long pid = std::stol(std::string(buffer, static_cast<std::size_t>(n)));
    if (pid > 0) return static_cast<pid_t>(pid);
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

std::variant<RunLock, Error> RunLock::acquire(
    const StatePaths& paths, bool wait, const std::function<void(const std::string&)>& waiting) {
  const fs::path file = paths.lock_file();
  const auto fail = [&](const std::string& why) {
    return Error{ExitCode::runtime_error,
                 why +
                     "; lpmon apply and revert take this lock so that two runs never "
                     "interleave (run them as root); nothing was changed"};
  };
  if (auto problem = make_dir(paths.run_dir)) return fail(*problem);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail("cannot open the lock " + file.string() + ": " + errno_text(errno));
  RunLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK)
      return fail("cannot lock " + file.string() + ": " + errno_text(errno));
    const std::optional<pid_t> holder = read_pid(fd);
    const std::string who = "another lpmon apply or revert" +
                            (holder ? " (pid " + std::to_string(*holder) + ")" : "") + " holds " +
                            file.string();
    if (!wait) {
      return Error{ExitCode::locked,
                   who + "; nothing was changed (wait for it, or leave out --no-wait to queue)"};
    }
    if (waiting) waiting("waiting for " + who);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return fail("cannot lock " + file.string() + ": " + errno_text(errno));
    }
  }
  // The holder's pid, for the message of a run that waits or refuses.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return lock;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::optional<pid_t> lock_holder(const StatePaths& paths) {
  const int fd = ::open(paths.lock_file().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::optional<pid_t> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    holder = read_pid(fd).value_or(0);
  }
  ::close(fd);  // a shared lock taken here goes with it
  return holder;
}

namespace {

json to_json(const JournalEntry& e) {
  return json{{"version", 1},
              {"command", e.command},
              {"pid", e.pid},
              {"started", e.started},
              {"patch", e.patch},
              {"module", e.module},
              {"srcversion", e.srcversion},
              {"was_enabled", e.was_enabled},
              {"was_loaded", e.was_loaded},
              {"step", e.step}};
}

}  // namespace

std::variant<std::optional<JournalEntry>, Error> Journal::read() const {
  std::error_code missing;
  if (!fs::exists(file_, missing)) return std::optional<JournalEntry>();
  std::ifstream in(file_);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    return Error{ExitCode::runtime_error,
                 "cannot read the journal " + file_.string() + ": " + errno_text(errno)};
  }
  try {
    const json j = json::parse(text.str());
    JournalEntry e;
    e.command = j.at("command").get<std::string>();
    e.pid = j.at("pid").get<pid_t>();
    e.started = j.at("started").get<std::string>();
    e.patch = j.at("patch").get<std::string>();
    e.module = j.value("module", "");
    e.srcversion = j.value("srcversion", "");
    e.was_enabled = j.value("was_enabled", false);
    e.was_loaded = j.value("was_loaded", false);
    e.step = j.at("step").get<std::string>();
    if ((e.command != "apply" && e.command != "revert") || e.patch.empty() ||
        e.patch.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            std::string::npos) {
      throw std::invalid_argument("not a run of lpmon apply or revert on a patch name");
    }
    return std::optional<JournalEntry>(std::move(e));
  } catch (const std::exception& error) {
    return Error{ExitCode::runtime_error, "the journal " + file_.string() + " makes no sense (" +
                                              error.what() +
                                              "); it is left as it is: look at it, then remove it"};
  }
}

std::optional<Error> Journal::write(const JournalEntry& entry) const {
  const auto fail = [&](const std::string& why) {
    return Error{ExitCode::runtime_error,
                 why +
                     "; lpmon records each step in its journal before the kernel write, so it "
                     "writes nothing it could not record"};
  };
  if (auto problem = make_dir(file_.parent_path())) return fail(*problem);
  const fs::path temporary = file_.string() + ".new";
  const std::string text = to_json(entry).dump() + "\n";
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return fail("cannot write " + temporary.string() + ": " + errno_text(errno));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int write_error = errno;
  const bool synced = written && ::fsync(fd) == 0;
  const int sync_error = errno;
  ::close(fd);
  if (!synced) {
    return fail("cannot write " + temporary.string() + ": " +
                errno_text(written ? sync_error : write_error));
  }
  if (::rename(temporary.c_str(), file_.c_str()) != 0) {
    return fail("cannot rename " + temporary.string() + ": " + errno_text(errno));
  }
  if (auto problem = sync_path(file_.parent_path(), O_RDONLY | O_DIRECTORY)) return fail(*problem);
  return std::nullopt;
}

std::optional<Error> Journal::clear() const {
  if (::unlink(file_.c_str()) != 0 && errno != ENOENT) {
    return Error{ExitCode::runtime_error,
                 "cannot remove the journal " + file_.string() + ": " + errno_text(errno)};
  }
  if (auto problem = sync_path(file_.parent_path(), O_RDONLY | O_DIRECTORY)) {
    return Error{ExitCode::runtime_error, *problem};
  }
  return std::nullopt;
}

namespace {

volatile std::sig_atomic_t g_caught = 0;
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_signal(int signal) {
  if (g_caught == 0) g_caught = signal;
}

}  // namespace

SignalGuard::SignalGuard() {
  g_caught = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking wait returns, and the run looks
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &action, &old_[i]);
}

SignalGuard::~SignalGuard() {
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
}

int SignalGuard::caught() {
  return g_caught;
}

std::string SignalGuard::name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "signal " + std::to_string(signal);
  }
}

}  // namespace lpmon::rollout
