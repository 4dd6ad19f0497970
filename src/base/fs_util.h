// fs_util.h — file helpers: whole-file reads with clear errors, read-only memory maps, and
// atomic writes (temporary file in the same folder, fsync, rename, fsync the folder).
//
// Also the exclusive lock a leap process holds on each output it writes (OutputLock).
// Not here: checkpoint rotation (train_state.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace leap {

// Reads a whole file; throws leap::Error naming the path when it cannot.
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);

// A read-only, private memory map of a whole file. Empty files map to size 0 / data nullptr.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Writes `path` atomically: `write(fd_writer)` fills a temporary file next to it, which is then
// flushed, fsync'ed and renamed over `path`. On any error the temporary is removed, the previous
// content of `path` is untouched, and leap::Error names the path and the OS error.
class FileWriter {
 public:
  explicit FileWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }

 private:
  int fd_;
  std::string path_;
  uint64_t written_ = 0;
};
void write_file_atomic(const std::string& path, const std::function<void(FileWriter&)>& fill);
void write_file_atomic(const std::string& path, const std::string& content);

// An exclusive advisory lock (flock) on "<dir>/.<name>.lock" beside the output, held while the
// object lives, so a second leap process writing the same output (folder or file) gets a clear
// error instead of interleaved files. The lock file is removed when the object is destroyed; the
// kernel drops the lock when the process dies, even by SIGKILL, and a file left by a killed run
// is harmless (the next run takes it and removes it). Throws leap::Error naming the output and
// the pid holding it.
class OutputLock {
 public:
  explicit OutputLock(const std::string& path);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  std::string lock_;
  int fd_ = -1;
};

// fsync a directory (after renames inside it).
void fsync_dir(const std::string& dir);

}  // namespace leap
