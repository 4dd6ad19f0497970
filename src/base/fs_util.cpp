// fs_util.cpp — see fs_util.h.
#include "base/fs_util.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

namespace leap {
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("%s: not a regular file", path.c_str());
  }
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      fail("%s: read failed: %s", path.c_str(), n == 0 ? "unexpected end of file" : std::strerror(e));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}
bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("%s: not a regular file", path.c_str());
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail("%s: mmap failed: %s", path.c_str(), std::strerror(e));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void FileWriter::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("%s: write failed: %s", path_.c_str(), std::strerror(w < 0 ? errno : ENOSPC));
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

namespace {
// "<dir>/.<name>.lock" beside the output (a dot file: not in the user's listing of the folder).
std::string lock_path_of(const std::string& path) {
  fs::path target = fs::path(path).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "out/" → "out"
  std::string name = ".";  // appended piecewise: GCC 12 misreports `"." + string&&` (-Wstringop-overflow)
  name += target.filename().string();
  name += ".lock";
  return (target.parent_path() / name).string();
}
}  // namespace

OutputLock::OutputLock(const std::string& path) : lock_(lock_path_of(path)) {
  std::error_code ec;
  if (fs::path p = fs::path(lock_).parent_path(); !p.empty()) fs::create_directories(p, ec);
  // The holder removes the file when it is done. A process that opened the file just before that
  // holds a lock on a removed file: it sees the path now names another file (or none) and retries.
  for (int attempt = 0; attempt < 100; ++attempt) {
    fd_ = ::open(lock_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("%s: cannot create the lock file %s: %s", path.c_str(), lock_.c_str(), std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      char buf[32] = {0};
      ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      ::close(fd_);
      fd_ = -1;
      std::string holder = n > 0 ? std::string(buf, size_t(n)) : std::string("?");
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      if (e == EWOULDBLOCK)
        fail("%s: another leap process (pid %s) is writing this output (lock %s); wait for it or choose another path",
             path.c_str(), holder.c_str(), lock_.c_str());
      fail("%s: cannot lock %s: %s", path.c_str(), lock_.c_str(), std::strerror(e));
    }
    struct stat held {
    }, named{};
    if (::fstat(fd_, &held) == 0 && ::stat(lock_.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev)
      break;
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) fail("%s: could not take the lock %s (it kept being replaced)", path.c_str(), lock_.c_str());
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_.c_str());  // while still held: the next writer creates a fresh file
  ::close(fd_);             // closing drops the flock
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const std::string& path, const std::function<void(FileWriter&)>& fill) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  std::string tmp_name = ".";
  tmp_name += target.filename().string();
  tmp_name += ".tmp.";
  // <pid>.<n>: unique per writer, threads of one process included (ranks run as threads in tests)
  static std::atomic<uint64_t> serial{0};
  tmp_name += std::to_string(::getpid()) + "." + std::to_string(serial++);
  std::string tmp = (dir / tmp_name).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("%s: cannot create temporary file %s: %s", path.c_str(), tmp.c_str(), std::strerror(errno));
  try {
    FileWriter w(fd, path);
    fill(w);
    if (::fsync(fd) != 0) fail("%s: fsync failed: %s", path.c_str(), std::strerror(errno));
    if (::close(fd) != 0) {
      fd = -1;
      fail("%s: close failed: %s", path.c_str(), std::strerror(errno));
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) fail("%s: rename failed: %s", path.c_str(), std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(dir.string());
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](FileWriter& w) { w.write(content); });
}

}  // namespace leap
