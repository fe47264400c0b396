// Where the libsvm reader gets its bytes: a file read with pread in windows, a gzip file
// inflated as it is read (GzipSource), or a block of memory owned by someone else. LineReader
// walks any of them one line at a time without loading more than a window of a file. Nothing
// here knows the libsvm grammar, and nothing here throws anything but shoal::Error (ERR_IO).
#pragma once

#include <cstddef>  // for size_t
#include <cstdint>  // for uint64_t
#include <memory>
#include <string>
#include <vector>

namespace shoal::data {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Total bytes. For a GzipSource this inflates the whole file once (without keeping it), so
  // callers that can do without it (one rank reading a whole file) should.
  virtual uint64_t size() = 0;
  // Copies up to n bytes at offset into dst and returns how many were copied (short only at
  // the end of the source). Throws shoal::Error(kIo) on a read failure.
  virtual size_t read(uint64_t offset, char* dst, size_t n) = 0;
  // The whole source as one contiguous block, or nullptr when it must be read in windows.
  virtual const char* contiguous() const { return nullptr; }
  // The smallest offset read() serves without starting over, and the number of '\n' before
  // it (so line numbers need not re-read what lies before). Files and memory: 0 and 0.
  virtual uint64_t resumePoint(uint64_t& newlinesBefore) const {
    newlinesBefore = 0;
    return 0;
  }
};

// A regular file, read with pread so no file position is shared. The size is taken once at
// open; a file that shrinks while it is read is reported as an I/O error, not a crash.
class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  uint64_t size() override { return size_; }
  size_t read(uint64_t offset, char* dst, size_t n) override;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Borrowed memory; the owner keeps it alive and unchanged while the reader runs.
class MemorySource : public ByteSource {
 public:
  MemorySource(const char* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t size() override { return size_; }
  size_t read(uint64_t offset, char* dst, size_t n) override;
  const char* contiguous() const override { return data_; }

 private:
  const char* data_;
  uint64_t size_;
};

// A gzip file (one or more members) decompressed as it is read, in bounded memory: the
// inflater keeps the last few MiB it produced, so reads that move forward, or back by less
// than that (the split rule's look at the previous line), cost nothing extra; a read further
// back restarts the inflater from the beginning of the file (correct, only slower).
class GzipSource : public ByteSource {
 public:
  explicit GzipSource(const std::string& path);
  ~GzipSource() override;
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;
  uint64_t size() override;
  size_t read(uint64_t offset, char* dst, size_t n) override;
  uint64_t resumePoint(uint64_t& newlinesBefore) const override {
    newlinesBefore = keptNewlineBase_;
    return keptStart_;
  }

 private:
  struct Inflater;
  std::unique_ptr<Inflater> openInflater() const;
  // Reads the next block of compressed bytes; returns false at the end of the file.
  bool readInput(Inflater& z);
  // Inflates up to maxBytes more of the file onto `out`; returns false at the end of the data.
  bool inflateMore(Inflater& z, std::vector<char>& out, size_t maxBytes);
  void restart();

  std::string path_;
  std::unique_ptr<Inflater> z_;
  std::vector<char> kept_;   // decompressed bytes [keptStart_, keptStart_ + kept_.size())
  uint64_t keptStart_ = 0;
  uint64_t keptNewlineBase_ = 0;  // '\n' bytes before keptStart_
  bool ended_ = false;
  bool sizeKnown_ = false;
  uint64_t size_ = 0;
};

struct Line {
  const char* begin = nullptr;  // first byte of the line
  const char* end = nullptr;    // the '\n' (or the end of the source); never included
  uint64_t offset = 0;          // absolute offset of `begin` in the source
};

// Yields the lines of a source from a byte offset on. The pointers in a Line stay valid only
// until the next call to next(). A line longer than the window grows the window.
class LineReader {
 public:
  LineReader(ByteSource& source, uint64_t begin, size_t windowBytes = size_t{4} << 20);
  bool next(Line& line);
  // Absolute offset of the first byte next() has not returned yet.
  uint64_t position() const { return windowStart_ + pos_; }

 private:
  void refill();

  ByteSource& source_;
  bool atEnd_ = false;          // the source returned a short read: no bytes after len_
  std::vector<char> window_;
  const char* base_ = nullptr;  // window_.data(), or the source's own memory
  uint64_t windowStart_ = 0;    // absolute offset of base_[0]
  size_t pos_ = 0;              // next unread byte, relative to base_
  size_t len_ = 0;              // valid bytes at base_
};

// Number of '\n' bytes in [from, to) of the source (for 1-based line numbers in errors).
uint64_t countNewlines(ByteSource& source, uint64_t from, uint64_t to);

}  // namespace shoal::data
