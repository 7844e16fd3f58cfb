#pragma once
// MXNet RecordIO (.rec + .idx) as used by insightface; see docs/datasets.md and
// shared/specs/formats.md section 4.
//
// RecordReader / RecordWriter: raw records (framing, split records, index).
// IRHeader, parse_image_record, pack_image_record: the image-record payload.
// ImageRecordFile: the insightface layout (header0, image records, identity records).
// InsightFaceRecordWriter: packs your own images into that layout.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/atomic_stream.hpp"
#include "rfcf/io/image.hpp"

namespace rfcf::io {

inline constexpr uint32_t kRecordIOMagic = 0xCED7230Au;
// Each part of a record is shorter than 2^29 bytes (29-bit length field).
inline constexpr uint32_t kRecordIOMaxPart = (1u << 29) - 1;

namespace recordio_detail {

inline uint32_t load_u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint64_t load_u64(const uint8_t* p) { return uint64_t(load_u32(p)) | (uint64_t(load_u32(p + 4)) << 32); }
inline void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline void store_u64(uint8_t* p, uint64_t v) {
  store_u32(p, uint32_t(v));
  store_u32(p + 4, uint32_t(v >> 32));
}
inline bool is_magic(const uint8_t* p) { return load_u32(p) == kRecordIOMagic; }
inline uint64_t pad4(uint64_t n) { return (n + 3) & ~uint64_t(3); }

inline std::string default_idx_path(const std::string& rec_path) {
  if (rec_path.size() > 4 && rec_path.compare(rec_path.size() - 4, 4, ".rec") == 0)
    return rec_path.substr(0, rec_path.size() - 4) + ".idx";
  return rec_path + ".idx";
}

}  // namespace recordio_detail

struct RecordReaderOptions {
  // Upper bound for one assembled record (all parts), a guard against corrupt lengths.
  uint64_t max_record_bytes = uint64_t(1) << 30;
  // Without an .idx file the .rec is scanned once and records get keys 0, 1, 2, ...
  bool scan_if_no_index = true;
};

// Random access to the records of a .rec file through its .idx. Reads use pread, so one
// reader can serve several threads.
class RecordReader {
 public:
  // idx_path "" means rec_path with ".rec" replaced by ".idx".
  explicit RecordReader(const std::string& rec_path, const std::string& idx_path = "",
                        RecordReaderOptions opt = {})
      : path_(rec_path), opt_(opt) {
    fd_ = ::open(rec_path.c_str(), O_RDONLY | O_CLOEXEC);
    check<IoError>(fd_ >= 0, "cannot open RecordIO file '", rec_path, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      ::close(fd_);
      fail<IoError>("cannot stat '", rec_path, "'");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    try {
      std::string idx = idx_path.empty() ? recordio_detail::default_idx_path(rec_path) : idx_path;
      std::ifstream probe(idx);
      if (probe) {
        load_index(idx);
      } else {
        check<IoError>(idx_path.empty() && opt_.scan_if_no_index, "cannot open RecordIO index '", idx, "'");
        scan_index();
      }
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;
  ~RecordReader() {
    if (fd_ >= 0) ::close(fd_);
  }

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return size_; }
  size_t size() const { return keys_.size(); }
  // Keys in index-file order, and the byte offset of each.
  const std::vector<int64_t>& keys() const { return keys_; }
  const std::vector<uint64_t>& offsets() const { return offsets_; }
  bool contains(int64_t key) const { return position_.count(key) != 0; }

  // The payload of the record with this key (split records re-assembled).
  std::vector<uint8_t> read(int64_t key) const {
    auto it = position_.find(key);
    check<FormatError>(it != position_.end(), "RecordIO '", path_, "': no record with key ", key);
    return read_at(offsets_[it->second]);
  }

  // The payload of the record starting at `offset`; *next (optional) receives the offset
  // just after it.
  std::vector<uint8_t> read_at(uint64_t offset, uint64_t* next = nullptr) const {
    std::vector<uint8_t> out;
    uint64_t pos = offset;
    bool first = true;
    while (true) {
      uint8_t head[8];
      check<FormatError>(pos <= size_ && size_ - pos >= 8, "RecordIO '", path_, "': record header at byte ", pos,
                         " runs past the end of the file (", size_, " bytes)");
      pread_exact(head, 8, pos);
      check<FormatError>(recordio_detail::is_magic(head), "RecordIO '", path_, "': bad magic at byte ", pos);
      uint32_t lrec = recordio_detail::load_u32(head + 4);
      uint32_t cflag = lrec >> 29;
      uint64_t length = lrec & kRecordIOMaxPart;
      check<FormatError>(size_ - pos - 8 >= length, "RecordIO '", path_, "': record at byte ", pos, " has length ",
                         length, " past the end of the file");
      if (first) {
        check<FormatError>(cflag == 0 || cflag == 1, "RecordIO '", path_, "': record at byte ", pos,
                           " starts with continuation flag ", cflag);
      } else {
        check<FormatError>(cflag == 2 || cflag == 3, "RecordIO '", path_, "': split record continues at byte ", pos,
                           " with flag ", cflag, " (expected 2 or 3)");
        uint8_t magic[4];
        recordio_detail::store_u32(magic, kRecordIOMagic);
        out.insert(out.end(), magic, magic + 4);
      }
      check<FormatError>(out.size() + length <= opt_.max_record_bytes, "RecordIO '", path_, "': record at byte ",
                         offset, " exceeds ", opt_.max_record_bytes, " bytes");
      size_t old = out.size();
      out.resize(old + length);
      if (length) pread_exact(out.data() + old, length, pos + 8);
      pos += 8 + recordio_detail::pad4(length);
      first = false;
      if (cflag == 0 || cflag == 3) break;
    }
    if (next) *next = std::min(pos, size_);
    return out;
  }

 private:
  void pread_exact(uint8_t* dst, uint64_t n, uint64_t pos) const {
    while (n > 0) {
      ssize_t k = ::pread(fd_, dst, n, static_cast<off_t>(pos));
      if (k < 0 && errno == EINTR) continue;
      check<IoError>(k > 0, "RecordIO '", path_, "': read failed at byte ", pos);
      dst += k;
      n -= static_cast<uint64_t>(k);
      pos += static_cast<uint64_t>(k);
    }
  }

  void add(int64_t key, uint64_t offset, const std::string& where) {
    check<FormatError>(offset < size_, where, ": offset ", offset, " of key ", key, " is past the end of '", path_,
                       "' (", size_, " bytes)");
    check<FormatError>(position_.emplace(key, keys_.size()).second, where, ": duplicate key ", key);
    keys_.push_back(key);
    offsets_.push_back(offset);
  }

  void load_index(const std::string& idx) {
    std::ifstream in(idx);
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      std::string where = idx + ":" + std::to_string(line_no);
      std::vector<std::string> fields;
      for (size_t p = 0; (p = line.find_first_not_of("\t ", p)) != std::string::npos;) {
        size_t e = line.find_first_of("\t ", p);
        fields.push_back(line.substr(p, e == std::string::npos ? std::string::npos : e - p));
        p = e;
      }
      check<FormatError>(fields.size() == 2, where, ": expected 'key<TAB>offset', got '", line, "'");
      int64_t key = parse_int(fields[0], where);
      int64_t off = parse_int(fields[1], where);
      check<FormatError>(off >= 0, where, ": negative offset");
      add(key, static_cast<uint64_t>(off), where);
    }
  }

  void scan_index() {
    uint64_t pos = 0;
    int64_t key = 0;
    while (pos < size_) {
      uint64_t next = 0;
      read_at(pos, &next);
      add(key++, pos, "RecordIO scan");
      pos = next;
    }
  }

  static int64_t parse_int(const std::string& s, const std::string& where) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      fail<FormatError>(where, ": '", s, "' is not an integer");
    }
    check<FormatError>(used == s.size(), where, ": '", s, "' is not an integer");
    return v;
  }

  std::string path_;
  RecordReaderOptions opt_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::vector<int64_t> keys_;
  std::vector<uint64_t> offsets_;
  std::unordered_map<int64_t, size_t> position_;
};

// Writes a .rec and its .idx. Both files appear only when close() succeeds; a writer
// destroyed without close() leaves nothing behind.
class RecordWriter {
 public:
  explicit RecordWriter(const std::string& rec_path, const std::string& idx_path = "")
      : rec_(rec_path), idx_(idx_path.empty() ? recordio_detail::default_idx_path(rec_path) : idx_path) {}

  uint64_t tell() const { return rec_.size(); }

  // Appends one record; returns its byte offset. The payload is split at every 4-byte-aligned
  // occurrence of the magic (which is dropped and re-inserted by readers), like MXNet's writer.
  uint64_t write(int64_t key, std::span<const uint8_t> payload) {
    uint64_t offset = rec_.size();
    size_t n = payload.size();
    size_t start = 0;
    const uint8_t* p = payload.data();
    for (size_t i = 0; i + 4 <= n; i += 4) {
      if (recordio_detail::is_magic(p + i)) {
        write_part(start == 0 ? 1u : 2u, p + start, i - start);
        start = i + 4;
      }
    }
    write_part(start == 0 ? 0u : 3u, p + start, n - start);
    idx_.write(std::to_string(key) + "\t" + std::to_string(offset) + "\n");
    return offset;
  }
  uint64_t write(int64_t key, const std::vector<uint8_t>& payload) {
    return write(key, std::span<const uint8_t>(payload.data(), payload.size()));
  }

  // Overwrites the payload of an earlier unsplit record with bytes of the same length.
  void patch(uint64_t record_offset, std::span<const uint8_t> payload) {
    rec_.write_at(record_offset + 8, payload.data(), payload.size());
  }

  void close() {
    rec_.commit();
    idx_.commit();
  }

 private:
  void write_part(uint32_t cflag, const uint8_t* data, size_t len) {
    check<IoError>(len <= kRecordIOMaxPart, "RecordIO '", rec_.path(), "': record part of ", len,
                   " bytes exceeds 2^29 - 1");
    uint8_t head[8];
    recordio_detail::store_u32(head, kRecordIOMagic);
    recordio_detail::store_u32(head + 4, (cflag << 29) | static_cast<uint32_t>(len));
    rec_.write(head, 8);
    if (len) rec_.write(data, len);
    static const uint8_t zeros[4] = {0, 0, 0, 0};
    size_t pad = recordio_detail::pad4(len) - len;
    if (pad) rec_.write(zeros, pad);
  }

  AtomicFile rec_;
  AtomicFile idx_;
};

// ---- image records -------------------------------------------------------------------

// MXNet's IRHeader: 24 bytes, little-endian, no padding.
struct IRHeader {
  uint32_t flag = 0;  // number of float labels following the header (0: use `label`)
  float label = 0.f;
  uint64_t id = 0;
  uint64_t id2 = 0;
};
inline constexpr size_t kIRHeaderBytes = 24;

struct ImageRecord {
  IRHeader header;
  std::vector<float> labels;    // header.flag values when flag > 0
  std::vector<uint8_t> image;   // encoded image bytes (may be empty: header0, identity records)

  // The class label: labels[0] when flag > 0, else the scalar label; cast to int64.
  int64_t label() const { return static_cast<int64_t>(header.flag > 0 ? labels[0] : header.label); }
};

inline ImageRecord parse_image_record(std::span<const uint8_t> payload, const std::string& where = "<record>") {
  check<FormatError>(payload.size() >= kIRHeaderBytes, where, ": image record of ", payload.size(),
                     " bytes is shorter than the 24-byte IRHeader");
  using namespace recordio_detail;
  ImageRecord r;
  r.header.flag = load_u32(payload.data());
  uint32_t bits = load_u32(payload.data() + 4);
  std::memcpy(&r.header.label, &bits, 4);
  r.header.id = load_u64(payload.data() + 8);
  r.header.id2 = load_u64(payload.data() + 16);
  uint64_t label_bytes = uint64_t(r.header.flag) * 4;
  check<FormatError>(label_bytes <= payload.size() - kIRHeaderBytes, where, ": IRHeader flag ", r.header.flag,
                     " announces more labels than the record holds (", payload.size(), " bytes)");
  r.labels.resize(r.header.flag);
  for (uint32_t i = 0; i < r.header.flag; ++i) {
    uint32_t b = load_u32(payload.data() + kIRHeaderBytes + 4 * i);
    std::memcpy(&r.labels[i], &b, 4);
  }
  r.image.assign(payload.begin() + std::ptrdiff_t(kIRHeaderBytes + label_bytes), payload.end());
  return r;
}

// Payload of an image record: IRHeader (flag = labels.size(), label = scalar_label when no
// label array is given, else 0) + labels + image bytes.
inline std::vector<uint8_t> pack_image_record(std::span<const float> labels, float scalar_label,
                                              std::span<const uint8_t> image, uint64_t id = 0, uint64_t id2 = 0) {
  using namespace recordio_detail;
  std::vector<uint8_t> out(kIRHeaderBytes + 4 * labels.size() + image.size());
  store_u32(out.data(), static_cast<uint32_t>(labels.size()));
  float scalar = labels.empty() ? scalar_label : 0.f;
  uint32_t bits;
  std::memcpy(&bits, &scalar, 4);
  store_u32(out.data() + 4, bits);
  store_u64(out.data() + 8, id);
  store_u64(out.data() + 16, id2);
  for (size_t i = 0; i < labels.size(); ++i) {
    std::memcpy(&bits, &labels[i], 4);
    store_u32(out.data() + kIRHeaderBytes + 4 * i, bits);
  }
  if (!image.empty()) std::memcpy(out.data() + kIRHeaderBytes + 4 * labels.size(), image.data(), image.size());
  return out;
}

// One identity of an insightface file: its image keys are [first, end).
struct IdentityRange {
  int64_t first = 0;
  int64_t end = 0;
};

// A .rec/.idx pair in insightface's face-recognition layout (formats.md 4.4): when record 0
// is a header0 (flag > 0) the images are keys 1 .. A-1 and records A .. B-1 describe the
// identities; otherwise every key of the index is an image.
class ImageRecordFile {
 public:
  explicit ImageRecordFile(const std::string& rec_path, const std::string& idx_path = "",
                           RecordReaderOptions opt = {})
      : reader_(rec_path, idx_path, opt) {
    if (reader_.size() > 0 && reader_.contains(0)) {
      ImageRecord h0 = read(0);
      if (h0.header.flag > 0) {
        check<FormatError>(h0.labels.size() >= 2, where(0), ": header0 has ", h0.labels.size(), " labels, expected 2");
        int64_t a = label_as_key(h0.labels[0], 0), b = label_as_key(h0.labels[1], 0);
        check<FormatError>(a >= 1 && b >= a, where(0), ": header0 labels [", a, ", ", b, "] are not 1 <= A <= B");
        has_header0_ = true;
        identity_begin_ = a;
        identity_end_ = b;
        for (int64_t k = 1; k < a; ++k) {
          check<FormatError>(reader_.contains(k), where(0), ": header0 announces image key ", k,
                             " that is missing from the index");
          image_keys_.push_back(k);
        }
        return;
      }
    }
    image_keys_ = reader_.keys();
  }

  const RecordReader& records() const { return reader_; }
  bool has_header0() const { return has_header0_; }
  // Keys of the image records, in order.
  const std::vector<int64_t>& image_keys() const { return image_keys_; }
  size_t size() const { return image_keys_.size(); }
  // Number of identity records announced by header0 (0 without header0).
  int64_t num_identities() const { return identity_end_ - identity_begin_; }

  // Identity i (0-based) from its identity record.
  IdentityRange identity(int64_t i) const {
    check<FormatError>(i >= 0 && i < num_identities(), "RecordIO '", reader_.path(), "': identity ", i,
                       " out of range [0, ", num_identities(), ")");
    int64_t key = identity_begin_ + i;
    ImageRecord r = read(key);
    check<FormatError>(r.labels.size() >= 2, where(key), ": identity record has ", r.labels.size(),
                       " labels, expected 2");
    IdentityRange range{label_as_key(r.labels[0], key), label_as_key(r.labels[1], key)};
    check<FormatError>(range.first <= range.end, where(key), ": identity range [", range.first, ", ", range.end,
                       ") is reversed");
    return range;
  }

  ImageRecord read(int64_t key) const { return parse_image_record(reader_.read(key), where(key)); }

  // Decoded image of an image record (insightface decodes to RGB).
  Image read_image(int64_t key, ColorOrder order = ColorOrder::RGB, const DecodeOptions& opt = {}) const {
    ImageRecord r = read(key);
    return decode_image(r.image, order, opt, where(key));
  }

 private:
  std::string where(int64_t key) const { return "RecordIO '" + reader_.path() + "' key " + std::to_string(key); }
  int64_t label_as_key(float v, int64_t key) const {
    check<FormatError>(std::isfinite(v) && v >= 0.f && v < 9.0e15f && v == std::floor(v), where(key), ": label ", v,
                       " is not a record index");
    return static_cast<int64_t>(v);
  }

  RecordReader reader_;
  bool has_header0_ = false;
  int64_t identity_begin_ = 0;
  int64_t identity_end_ = 0;
  std::vector<int64_t> image_keys_;
};

// Packs labelled, already-encoded images into insightface's layout: header0, image records
// 1..N (flag 2, labels [class, 0]) and one identity record per class. Images must be added
// grouped by class, classes numbered 0, 1, 2, ... in order. Labels are stored as float32, so
// N + K must stay below 2^24.
class InsightFaceRecordWriter {
 public:
  explicit InsightFaceRecordWriter(const std::string& rec_path, const std::string& idx_path = "")
      : writer_(rec_path, idx_path) {
    header0_offset_ = writer_.write(0, header0_payload(0, 0));
  }

  void add(int64_t class_id, std::span<const uint8_t> encoded_image) {
    check<ConfigError>(class_id >= 0 && (class_id == current_class_ || class_id == current_class_ + 1), "InsightFaceRecordWriter: class ",
                       class_id, " after class ", current_class_, " (add images grouped by class, classes 0, 1, 2, ...)");
    check<ConfigError>(num_images_ + 2 < (int64_t(1) << 24), "InsightFaceRecordWriter: too many images for float labels");
    if (class_id != current_class_) {
      starts_.push_back(num_images_ + 1);
      current_class_ = class_id;
    }
    const float labels[2] = {static_cast<float>(class_id), 0.f};
    ++num_images_;
    writer_.write(num_images_, pack_image_record(labels, 0.f, encoded_image));
  }

  void close() {
    int64_t n = num_images_, k = static_cast<int64_t>(starts_.size());
    int64_t a = n + 1, b = n + 1 + k;
    check<ConfigError>(b < (int64_t(1) << 24), "InsightFaceRecordWriter: too many records for float labels");
    for (int64_t i = 0; i < k; ++i) {
      int64_t end = i + 1 < k ? starts_[size_t(i + 1)] : n + 1;
      const float range[2] = {static_cast<float>(starts_[size_t(i)]), static_cast<float>(end)};
      writer_.write(a + i, pack_image_record(range, 0.f, {}));
    }
    writer_.patch(header0_offset_, header0_payload(a, b));
    writer_.close();
  }

 private:
  static std::vector<uint8_t> header0_payload(int64_t a, int64_t b) {
    const float labels[2] = {static_cast<float>(a), static_cast<float>(b)};
    return pack_image_record(labels, 0.f, {});
  }

  RecordWriter writer_;
  uint64_t header0_offset_ = 0;
  int64_t num_images_ = 0;
  int64_t current_class_ = -1;
  std::vector<int64_t> starts_;
};

}  // namespace rfcf::io
