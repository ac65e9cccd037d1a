#include "lpmon/util/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <thread>

extern char** environ;

namespace lpmon {
namespace {

constexpr int kTickMs = 200;

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

int status_of(int wait_status) {
  return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

// Reads the pipe until its writer closes it, ticking while nothing comes.
void drain(int fd, std::string& output, const std::function<void()>& tick) {
  char buffer[8192];
  for (;;) {
    if (tick) {
      pollfd p{fd, POLLIN, 0};
      const int ready = poll(&p, 1, kTickMs);
      if (ready < 0 && errno != EINTR) return;
      if (ready <= 0) {
        tick();
        continue;
      }
    }
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n == 0) return;
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    output.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  ProcessResult result;
  if (argv.empty()) {
    result.output = "no program to run";
    return result;
  }
  const bool capturing =
      options.output == ProcessOutput::capture || options.output == ProcessOutput::capture_stdout;
  int pipefd[2] = {-1, -1};
  if (capturing && pipe2(pipefd, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  int log_fd = -1;
  SpawnActions actions;
  switch (options.output) {
    case ProcessOutput::capture:
      posix_spawn_file_actions_adddup2(actions.get(), pipefd[1], STDOUT_FILENO);
      posix_spawn_file_actions_adddup2(actions.get(), pipefd[1], STDERR_FILENO);
      break;
    case ProcessOutput::capture_stdout:
      posix_spawn_file_actions_adddup2(actions.get(), pipefd[1], STDOUT_FILENO);
      break;
    case ProcessOutput::log_file:
      // A log that cannot be opened leaves the output where ours goes.
      log_fd = open(options.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log_fd >= 0) {
        posix_spawn_file_actions_adddup2(actions.get(), log_fd, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(actions.get(), log_fd, STDERR_FILENO);
      }
      break;
    case ProcessOutput::our_stderr:
      posix_spawn_file_actions_adddup2(actions.get(), STDERR_FILENO, STDOUT_FILENO);
      break;
  }
  posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!options.cwd.empty()) {
    posix_spawn_file_actions_addchdir_np(actions.get(), options.cwd.c_str());
  }

  std::vector<std::string> environment;
  for (char** e = environ; *e; ++e) environment.emplace_back(*e);
  environment.insert(environment.end(), options.env.begin(), options.env.end());
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), envp.data());
  if (log_fd >= 0) close(log_fd);
  if (capturing) close(pipefd[1]);
  if (rc != 0) {
    if (capturing) close(pipefd[0]);
    result.output = argv[0] + ": " + std::strerror(rc);
    return result;
  }
  int wait_status = 0;
  if (capturing) {
    drain(pipefd[0], result.output, options.tick);
    close(pipefd[0]);
    while (waitpid(pid, &wait_status, 0) < 0) {
      if (errno != EINTR) return result;
    }
  } else {
    for (;;) {
      const pid_t done = waitpid(pid, &wait_status, options.tick ? WNOHANG : 0);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) return result;
      if (done == 0) {
        options.tick();
        std::this_thread::sleep_for(std::chrono::milliseconds(kTickMs));
      }
    }
  }
  if (options.tick) options.tick();
  result.status = status_of(wait_status);
  return result;
}

std::string last_lines(const std::string& text, std::size_t lines) {
  std::vector<std::string> all;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += "  " + all[i] + "\n";
  }
  return out;
}

}  // namespace lpmon
