#pragma once
// MATLAB v5 .mat reader for the subset used by the WIDER FACE ground truth (formats.md 6):
// little-endian files, miCOMPRESSED (zlib) and plain miMATRIX variables, small data elements,
// cell / char / numeric arrays (numeric data may be stored in a narrower type than its class).
// Every length is bounds-checked against its parent element and inflation is size-limited,
// so a malformed file throws FormatError (with the byte offset) instead of crashing.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"

namespace rfcf::io {

// MATLAB array classes (the low byte of the array flags).
enum class MatClass : uint8_t {
  empty = 0,  // an miMATRIX with byte count 0
  cell = 1,
  character = 4,
  float64 = 6,
  float32 = 7,
  int8 = 8,
  uint8 = 9,
  int16 = 10,
  uint16 = 11,
  int32 = 12,
  uint32 = 13,
  int64 = 14,
  uint64 = 15,
};

struct MatLimits {
  size_t max_inflated_bytes = size_t(512) << 20;  // per miCOMPRESSED element
  int max_depth = 32;                              // nested cells
  int max_rank = 8;
  size_t max_arrays = size_t(4) << 20;  // arrays in the file (cells included); WIDER hard has 29,654
};

// One array. Numeric values of every class are kept as double (exact for the classes that
// occur: int32, uint8, small doubles; 64-bit integers beyond 2^53 lose precision).
struct MatArray {
  MatClass cls = MatClass::empty;
  std::string name;
  std::vector<int64_t> dims;     // MATLAB dimensions (column-major storage)
  std::vector<double> numeric;   // numeric classes, column-major
  std::string text;              // char arrays (column-major characters)
  std::vector<MatArray> cells;   // cell arrays, column-major

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return dims.empty() ? 0 : n;
  }
  int64_t rows() const { return dims.empty() ? 0 : dims[0]; }
  int64_t cols() const {
    int64_t n = 1;
    for (size_t i = 1; i < dims.size(); ++i) n *= dims[i];
    return dims.empty() ? 0 : n;
  }
  bool is_numeric() const { return cls != MatClass::empty && cls != MatClass::cell && cls != MatClass::character; }
  bool is_empty() const { return numel() == 0; }
  // Element (r, c) of a 2-D numeric array (column-major).
  double at(int64_t r, int64_t c) const {
    check<FormatError>(is_numeric(), "MatArray '", name, "': at() on a non-numeric array");
    check<FormatError>(r >= 0 && r < rows() && c >= 0 && c < cols(), "MatArray '", name, "': index (", r, ", ",
                       c, ") out of range for ", rows(), "x", cols());
    return numeric[static_cast<size_t>(c * rows() + r)];
  }
  const MatArray& cell(int64_t i) const {
    check<FormatError>(cls == MatClass::cell, "MatArray '", name, "' is not a cell array");
    check<FormatError>(i >= 0 && i < static_cast<int64_t>(cells.size()), "MatArray '", name, "': cell index ",
                       i, " out of range (", cells.size(), " cells)");
    return cells[static_cast<size_t>(i)];
  }
  const std::string& str() const {
    check<FormatError>(cls == MatClass::character || (cls == MatClass::empty), "MatArray '", name,
                       "' is not a char array");
    return text;
  }
};

struct MatFile {
  std::string header_text;
  std::vector<MatArray> variables;  // in file order

  const MatArray* find(const std::string& name) const {
    for (const auto& v : variables)
      if (v.name == name) return &v;
    return nullptr;
  }
  const MatArray& operator[](const std::string& name) const {
    const MatArray* v = find(name);
    check<FormatError>(v != nullptr, "MAT file has no variable '", name, "'");
    return *v;
  }
};

namespace detail::mat {

enum : uint32_t {
  miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6, miSINGLE = 7,
  miDOUBLE = 9, miINT64 = 12, miUINT64 = 13, miMATRIX = 14, miCOMPRESSED = 15, miUTF8 = 16,
  miUTF16 = 17, miUTF32 = 18,
};

inline uint32_t load_u32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

// One data element: [data, data + bytes) of type `type`; `next` is where the following element starts.
struct Element {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  size_t offset = 0;  // absolute byte offset of the tag (for messages)
};

// Sequential reader over [begin, end); `base` is the absolute offset of `begin` for messages.
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end, size_t base, const char* what)
      : p_(begin), begin_(begin), end_(end), base_(base), what_(what) {}

  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  size_t offset() const { return base_ + static_cast<size_t>(p_ - begin_); }

  // Reads a tag. Elements are padded to 8 bytes, except top-level miCOMPRESSED ones
  // (pad_compressed = false); padding missing at the very end is tolerated.
  Element next(bool pad_compressed = true) {
    Element e;
    e.offset = offset();
    check<FormatError>(remaining() >= 8, what_, ": truncated data element tag at byte ", e.offset, " (",
                       remaining(), " bytes left)");
    uint32_t w0 = load_u32(p_), w1 = load_u32(p_ + 4);
    if ((w0 >> 16) != 0) {  // small data element: bytes in the upper half, data in the tag's second word
      e.type = w0 & 0xFFFFu;
      e.bytes = w0 >> 16;
      check<FormatError>(e.bytes <= 4, what_, ": small data element at byte ", e.offset, " claims ", e.bytes,
                         " bytes (at most 4)");
      e.data = p_ + 4;
      p_ += 8;
      return e;
    }
    e.type = w0;
    e.bytes = w1;
    check<FormatError>(e.bytes <= remaining() - 8, what_, ": data element at byte ", e.offset, " (type ",
                       e.type, ") claims ", e.bytes, " bytes but only ", remaining() - 8, " remain");
    e.data = p_ + 8;
    size_t step = 8 + e.bytes;
    if (pad_compressed || e.type != miCOMPRESSED) step = std::min(remaining(), 8 + ((e.bytes + 7) & ~size_t(7)));
    p_ += step;
    return e;
  }

 private:
  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  size_t base_;
  const char* what_;
};

inline size_t mi_size(uint32_t type) {
  switch (type) {
    case miINT8: case miUINT8: case miUTF8: return 1;
    case miINT16: case miUINT16: case miUTF16: return 2;
    case miINT32: case miUINT32: case miSINGLE: case miUTF32: return 4;
    case miDOUBLE: case miINT64: case miUINT64: return 8;
    default: return 0;
  }
}

inline double mi_value(uint32_t type, const uint8_t* p) {
  switch (type) {
    case miINT8: return static_cast<int8_t>(p[0]);
    case miUINT8: return p[0];
    case miINT16: { int16_t v; std::memcpy(&v, p, 2); return v; }
    case miUINT16: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case miINT32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case miUINT32: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    case miSINGLE: { float v; std::memcpy(&v, p, 4); return v; }
    case miDOUBLE: { double v; std::memcpy(&v, p, 8); return v; }
    case miINT64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case miUINT64: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    default: return 0.0;
  }
}

inline bool numeric_class(uint32_t c) { return c >= 6 && c <= 15; }

// zlib inflate of one miCOMPRESSED payload, refusing to produce more than `limit` bytes.
inline std::vector<uint8_t> inflate_limited(const uint8_t* data, size_t bytes, size_t limit, size_t offset) {
  z_stream zs{};
  check<FormatError>(inflateInit(&zs) == Z_OK, "MAT: inflateInit failed");
  std::vector<uint8_t> out;
  size_t chunk = std::min<size_t>(limit, std::max<size_t>(4 * bytes, 1 << 16));
  out.resize(chunk);
  zs.next_in = const_cast<Bytef*>(data);
  size_t fed = 0;
  int ret = Z_OK;
  for (;;) {
    // avail_in/avail_out are 32-bit: feed in pieces.
    if (zs.avail_in == 0 && fed < bytes) {
      size_t n = std::min<size_t>(bytes - fed, 1u << 30);
      zs.next_in = const_cast<Bytef*>(data + fed);
      zs.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    if (zs.total_out == out.size()) {
      if (out.size() >= limit) {
        inflateEnd(&zs);
        fail<FormatError>("MAT: miCOMPRESSED element at byte ", offset, " inflates to more than the limit of ",
                          limit, " bytes");
      }
      out.resize(std::min(limit, out.size() * 2));
    }
    size_t room = std::min<size_t>(out.size() - zs.total_out, 1u << 30);
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = static_cast<uInt>(room);
    ret = inflate(&zs, Z_NO_FLUSH);
    if (ret == Z_STREAM_END) break;
    if (ret != Z_OK && !(ret == Z_BUF_ERROR && zs.avail_out == 0)) {
      inflateEnd(&zs);
      fail<FormatError>("MAT: corrupt zlib stream in miCOMPRESSED element at byte ", offset, " (zlib code ", ret,
                        ")");
    }
    if (ret == Z_OK && zs.avail_in == 0 && fed == bytes && zs.avail_out != 0) {
      inflateEnd(&zs);
      fail<FormatError>("MAT: truncated zlib stream in miCOMPRESSED element at byte ", offset);
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

class Parser {
 public:
  explicit Parser(const MatLimits& limits) : limits_(limits) {}

  // Parses the payload of an miMATRIX element (e.data, e.bytes).
  MatArray matrix(const Element& e, int depth) {
    check<FormatError>(depth <= limits_.max_depth, "MAT: cell nesting deeper than ", limits_.max_depth,
                       " at byte ", e.offset);
    check<FormatError>(++arrays_ <= limits_.max_arrays, "MAT: more than ", limits_.max_arrays,
                       " arrays (MatLimits::max_arrays) at byte ", e.offset);
    MatArray a;
    if (e.bytes == 0) return a;  // empty array
    Reader r(e.data, e.data + e.bytes, e.offset + 8, "MAT miMATRIX");

    Element flags = r.next();
    check<FormatError>(flags.type == miUINT32 && flags.bytes == 8, "MAT: array flags at byte ", flags.offset,
                       " must be miUINT32 x 2 (got type ", flags.type, ", ", flags.bytes, " bytes)");
    uint32_t f0 = load_u32(flags.data);
    uint32_t cls = f0 & 0xFFu;
    check<FormatError>((f0 & 0x0800u) == 0, "MAT: complex arrays are not supported (byte ", flags.offset, ")");
    check<FormatError>(cls == 1 || cls == 4 || numeric_class(cls), "MAT: array class ", cls, " at byte ",
                       flags.offset, " is not supported (cell, char and numeric only)");
    a.cls = static_cast<MatClass>(cls);

    Element dims = r.next();
    check<FormatError>(dims.type == miINT32 && dims.bytes % 4 == 0 && dims.bytes >= 8 &&
                           dims.bytes / 4 <= static_cast<size_t>(limits_.max_rank),
                       "MAT: dimensions at byte ", dims.offset, " must be 2..", limits_.max_rank,
                       " miINT32 values (got type ", dims.type, ", ", dims.bytes, " bytes)");
    int64_t numel = 1;
    for (size_t i = 0; i < dims.bytes / 4; ++i) {
      int32_t d = static_cast<int32_t>(load_u32(dims.data + 4 * i));
      check<FormatError>(d >= 0, "MAT: negative dimension ", d, " at byte ", dims.offset);
      a.dims.push_back(d);
      check<FormatError>(d == 0 || numel <= std::numeric_limits<int32_t>::max() / d, "MAT: element count overflows at byte ",
                         dims.offset);
      numel *= d;
    }

    Element name = r.next();
    check<FormatError>(name.type == miINT8 || name.type == miUTF8 || name.type == miUINT8,
                       "MAT: array name at byte ", name.offset, " must be miINT8 (got type ", name.type, ")");
    a.name.assign(reinterpret_cast<const char*>(name.data), name.bytes);

    const size_t n = static_cast<size_t>(numel);
    if (a.cls == MatClass::cell) {
      // Every cell needs at least an 8-byte tag: reject impossible counts before allocating.
      check<FormatError>(n <= r.remaining() / 8, "MAT: cell array '", a.name, "' at byte ", e.offset, " has ", n,
                         " cells but only ", r.remaining(), " bytes");
      a.cells.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        Element c = r.next();
        check<FormatError>(c.type == miMATRIX, "MAT: cell ", i, " of '", a.name, "' at byte ", c.offset,
                           " is type ", c.type, ", expected miMATRIX");
        a.cells.push_back(matrix(c, depth + 1));
      }
    } else if (a.cls == MatClass::character) {
      if (n == 0 && r.done()) return a;
      Element d = r.next();
      size_t w = mi_size(d.type);
      check<FormatError>(d.type == miUTF8 || d.type == miUINT8 || d.type == miINT8 || d.type == miUINT16 ||
                             d.type == miUTF16,
                         "MAT: char data of '", a.name, "' at byte ", d.offset, " has unsupported type ", d.type);
      check<FormatError>(d.bytes == n * w, "MAT: char array '", a.name, "' at byte ", d.offset, " has ", d.bytes,
                         " bytes for ", n, " characters");
      a.text.resize(n);
      for (size_t i = 0; i < n; ++i) {
        uint32_t ch = w == 1 ? d.data[i] : uint32_t(d.data[2 * i]) | (uint32_t(d.data[2 * i + 1]) << 8);
        a.text[i] = ch < 128 ? static_cast<char>(ch) : '?';
      }
    } else {
      if (n == 0 && r.done()) return a;
      Element d = r.next();
      size_t w = mi_size(d.type);
      check<FormatError>(w != 0 && d.type != miUTF8 && d.type != miUTF16 && d.type != miUTF32,
                         "MAT: numeric data of '", a.name, "' at byte ", d.offset, " has unsupported type ", d.type);
      check<FormatError>(d.bytes == n * w, "MAT: numeric array '", a.name, "' at byte ", d.offset, " has ",
                         d.bytes, " bytes for ", n, " elements of ", w, " bytes");
      a.numeric.resize(n);
      for (size_t i = 0; i < n; ++i) a.numeric[i] = mi_value(d.type, d.data + i * w);
    }
    return a;
  }

 private:
  MatLimits limits_;
  size_t arrays_ = 0;
};

}  // namespace detail::mat

// Parses a complete .mat file held in memory.
inline MatFile parse_mat(const uint8_t* data, size_t size, const MatLimits& limits = {}) {
  using namespace detail::mat;
  check<FormatError>(size >= 128, "MAT: file of ", size, " bytes is shorter than the 128-byte header");
  MatFile file;
  size_t text_end = 116;
  while (text_end > 0 && (data[text_end - 1] == ' ' || data[text_end - 1] == 0)) --text_end;
  file.header_text.assign(reinterpret_cast<const char*>(data), text_end);
  check<FormatError>(data[126] == 'I' && data[127] == 'M', "MAT: endian indicator at byte 126 is not 'IM' ",
                     "(big-endian or not a v5 MAT file)");
  uint16_t version = static_cast<uint16_t>(data[124] | (data[125] << 8));
  check<FormatError>(version == 0x0100, "MAT: version 0x", std::hex, version, " at byte 124 is not 0x0100");

  Parser parser(limits);
  Reader top(data + 128, data + size, 128, "MAT file");
  while (!top.done()) {
    Element e = top.next(/*pad=*/false);
    if (e.type == miCOMPRESSED) {
      std::vector<uint8_t> raw = inflate_limited(e.data, e.bytes, limits.max_inflated_bytes, e.offset);
      Reader inner(raw.data(), raw.data() + raw.size(), 0, "MAT compressed variable");
      Element m = inner.next();
      check<FormatError>(m.type == miMATRIX, "MAT: compressed element at byte ", e.offset,
                         " holds type ", m.type, ", expected miMATRIX");
      file.variables.push_back(parser.matrix(m, 0));
    } else if (e.type == miMATRIX) {
      file.variables.push_back(parser.matrix(e, 0));
    } else {
      fail<FormatError>("MAT: top-level element at byte ", e.offset, " has type ", e.type,
                        " (expected miMATRIX or miCOMPRESSED)");
    }
  }
  return file;
}

inline MatFile read_mat(const std::string& path, const MatLimits& limits = {}) {
  std::ifstream in(path, std::ios::binary);
  check<IoError>(static_cast<bool>(in), "cannot open MAT file '", path, "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  check<IoError>(!in.bad(), "error reading MAT file '", path, "'");
  try {
    return parse_mat(bytes.data(), bytes.size(), limits);
  } catch (const FormatError& e) {
    throw FormatError(std::string(e.what()) + " (file '" + path + "')");
  }
}

}  // namespace rfcf::io
