#pragma once
// 8-bit images: the Image type, JPEG/PNG decoding and PNG/JPEG encoding.
//
// Decoding: JPEG goes through libjpeg(-turbo) when RFCF_HAVE_LIBJPEG is defined (pixel-exact
// with cv2.imread on Debian), otherwise through stb_image (within a few grey levels of
// libjpeg; see docs/images.md). PNG always goes through stb_image. Incomplete or corrupt
// files are rejected with FormatError naming the file.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "rfcf/core/error.hpp"
#include "rfcf/io/atomic_file.hpp"
#include "rfcf/io/file_bytes.hpp"
#include "rfcf/io/detail/libjpeg.hpp"
#include "rfcf/io/detail/stb.hpp"
#include "rfcf/io/file_bytes.hpp"

namespace rfcf::io {

// Byte order of the three channels of a colour image (ignored for grey images).
enum class ColorOrder { RGB, BGR };

inline const char* to_string(ColorOrder o) { return o == ColorOrder::RGB ? "RGB" : "BGR"; }

// Interleaved (HWC) 8-bit image with 1 or 3 channels, rows packed without padding.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  ColorOrder order = ColorOrder::RGB;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c, ColorOrder o = ColorOrder::RGB, uint8_t fill = 0) : width(w), height(h), channels(c), order(o) {
    check<ShapeError>(w >= 0 && h >= 0, "Image: negative size ", w, "x", h);
    check<ShapeError>(c == 1 || c == 3, "Image: channels must be 1 or 3, got ", c);
    pixels.assign(static_cast<size_t>(w) * static_cast<size_t>(h) * static_cast<size_t>(c), fill);
  }

  bool empty() const { return width == 0 || height == 0; }
  size_t row_bytes() const { return static_cast<size_t>(width) * static_cast<size_t>(channels); }
  uint8_t* data() { return pixels.data(); }
  const uint8_t* data() const { return pixels.data(); }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * row_bytes(); }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * row_bytes(); }
  uint8_t* at(int x, int y) { return row(y) + static_cast<size_t>(x) * static_cast<size_t>(channels); }
  const uint8_t* at(int x, int y) const { return row(y) + static_cast<size_t>(x) * static_cast<size_t>(channels); }
};

// Largest image the decoders accept (each side), as a guard against hostile headers.
inline constexpr int kMaxImageSide = 1 << 16;
inline constexpr uint64_t kMaxImagePixels = uint64_t(1) << 28;

enum class ImageFormat { Unknown, Jpeg, Png };

inline ImageFormat sniff_format(std::span<const uint8_t> b) {
  if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return ImageFormat::Jpeg;
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (b.size() >= 8 && std::memcmp(b.data(), png_sig, 8) == 0) return ImageFormat::Png;
  return ImageFormat::Unknown;
}

namespace detail {

inline uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// Walks every marker segment of a JPEG with bounds checks and returns "" when the structure
// is sound: segments fit in the file, Huffman tables (DHT) are well-formed (at most 256
// codes, lengths that fit the code space; stb_image 2.27 overflows a table otherwise) and an
// end-of-image marker follows the scans (a missing EOI means a truncated file). Inside
// entropy-coded data every FF byte is followed by 00 or a restart marker, so the next other
// marker ends the scan.
inline std::string jpeg_dht_problem(const uint8_t* p, size_t len, unsigned& defined) {
  size_t pos = 0;
  while (pos < len) {
    if (pos + 17 > len) return "Huffman table header runs past its segment";
    if ((p[pos] >> 4) > 1 || (p[pos] & 15) > 3) return "bad Huffman table class/id";
    defined |= 1u << ((p[pos] >> 4) * 4 + (p[pos] & 15));
    size_t total = 0;
    uint32_t code = 0;
    for (int bits = 1; bits <= 16; ++bits) {
      uint32_t count = p[pos + size_t(bits)];
      total += count;
      code = (code + count);
      if (code > (1u << bits)) return "Huffman code lengths overflow the code space";
      code <<= 1;
    }
    if (total > 256) return "Huffman table with more than 256 codes";
    pos += 17 + total;
    if (pos > len) return "Huffman table values run past their segment";
  }
  return "";
}

// stb_image 2.27 decodes with uninitialised tables when a scan names an undefined one.
inline std::string jpeg_sos_problem(const uint8_t* p, size_t len, unsigned defined, bool progressive) {
  if (len < 1) return "empty scan header";
  size_t ns = p[0];
  if (ns < 1 || ns > 4 || len < 1 + 2 * ns + 3) return "bad scan header";
  uint8_t ss = p[1 + 2 * ns], ah = p[3 + 2 * ns] >> 4;
  bool need_dc = !progressive || (ss == 0 && ah == 0);
  bool need_ac = !progressive || ss > 0;
  for (size_t i = 0; i < ns; ++i) {
    uint8_t td = p[2 + 2 * i] >> 4, ta = p[2 + 2 * i] & 15;
    if (td > 3 || ta > 3) return "bad Huffman table selector";
    if (need_dc && !(defined & (1u << td))) return "scan uses an undefined DC Huffman table";
    if (need_ac && !(defined & (1u << (4 + ta)))) return "scan uses an undefined AC Huffman table";
  }
  return "";
}

// for_stb: also reject scans that use undefined Huffman tables (libjpeg substitutes the
// standard tables there, as Motion-JPEG frames need; stb_image reads uninitialised memory).
inline std::string jpeg_structure_problem(std::span<const uint8_t> b, bool for_stb) {
  size_t pos = 2;
  bool seen_scan = false, progressive = false;
  unsigned defined_tables = 0;  // bit (class * 4 + id)
  while (true) {
    if (pos + 2 > b.size()) return seen_scan ? "no end-of-image marker (truncated file)" : "file ends inside the headers";
    if (b[pos] != 0xFF) return "marker expected at byte " + std::to_string(pos);
    uint8_t m = b[pos + 1];
    if (m == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (m == 0xD9) return seen_scan ? "" : "end of image before any scan";
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // parameterless markers
      pos += 2;
      continue;
    }
    if (pos + 4 > b.size()) return "file ends inside a marker at byte " + std::to_string(pos);
    size_t len = (size_t(b[pos + 2]) << 8) | b[pos + 3];
    if (len < 2 || pos + 2 + len > b.size())
      return "segment at byte " + std::to_string(pos) + " runs past the end (truncated file)";
    if (m == 0xC4) {
      std::string p = jpeg_dht_problem(&b[pos + 4], len - 2, defined_tables);
      if (!p.empty()) return p + " (segment at byte " + std::to_string(pos) + ")";
    }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) progressive = (m == 0xC2 || m == 0xC6);
    if (m == 0xDA && for_stb) {  // a scan may only use Huffman tables defined before it
      std::string p = jpeg_sos_problem(&b[pos + 4], len - 2, defined_tables, progressive);
      if (!p.empty()) return p + " (scan at byte " + std::to_string(pos) + ")";
    }
    pos += 2 + len;
    if (m == 0xDA) {  // entropy-coded data follows until the next non-restart marker
      seen_scan = true;
      while (true) {
        const void* ff = pos < b.size() ? std::memchr(&b[pos], 0xFF, b.size() - pos) : nullptr;
        if (!ff) return "no end-of-image marker (truncated file)";
        pos = size_t(static_cast<const uint8_t*>(ff) - b.data());
        if (pos + 1 >= b.size()) return "no end-of-image marker (truncated file)";
        uint8_t n = b[pos + 1];
        if (n == 0x00 || (n >= 0xD0 && n <= 0xD7)) {
          pos += 2;
          continue;
        }
        if (n == 0xFF) {
          ++pos;
          continue;
        }
        break;  // a real marker
      }
    }
  }
}

// Every PNG chunk must fit in the file and carry a correct CRC, and the file must reach IEND.
inline std::string png_structure_problem(std::span<const uint8_t> b) {
  size_t pos = 8;
  while (true) {
    if (pos + 12 > b.size()) return "truncated before IEND";
    uint64_t len = read_be32(&b[pos]);
    if (len > b.size() - pos - 12) return "chunk at byte " + std::to_string(pos) + " runs past the end";
    const uint8_t* type = &b[pos + 4];
    uLong crc = crc32(0L, type, static_cast<uInt>(len + 4));
    if (crc != read_be32(&b[pos + 8 + len])) return "CRC mismatch in chunk at byte " + std::to_string(pos);
    if (std::memcmp(type, "IEND", 4) == 0) return "";
    pos += 12 + len;
  }
}

inline void swap_red_blue(Image& img) {
  if (img.channels != 3) return;
  uint8_t* p = img.pixels.data();
  size_t n = img.pixels.size();
  for (size_t i = 0; i + 2 < n; i += 3) std::swap(p[i], p[i + 2]);
}

inline void check_decoded_size(int w, int h, uint64_t max_pixels, const std::string& name) {
  check<FormatError>(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide &&
                         uint64_t(w) * uint64_t(h) <= max_pixels,
                     "image '", name, "': unsupported size ", w, "x", h);
}

inline Image decode_with_stb(std::span<const uint8_t> bytes, ColorOrder order, int channels, uint64_t max_pixels,
                             const std::string& name) {
  check<FormatError>(bytes.size() <= size_t(INT32_MAX), "image '", name, "': file too large");
  int w = 0, h = 0, file_channels = 0;
  // Size check before decoding, so that a hostile header cannot make stb allocate gigabytes.
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &file_channels))
    fail<FormatError>("image '", name, "': cannot decode (", stbi_failure_reason(), ")");
  check_decoded_size(w, h, max_pixels, name);
  uint8_t* data = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &file_channels, channels);
  if (!data) fail<FormatError>("image '", name, "': cannot decode (", stbi_failure_reason(), ")");
  Image img;
  try {
    check_decoded_size(w, h, max_pixels, name);
    img = Image(w, h, channels, ColorOrder::RGB);
    std::memcpy(img.pixels.data(), data, img.pixels.size());
  } catch (...) {
    stbi_image_free(data);
    throw;
  }
  stbi_image_free(data);
  if (order == ColorOrder::BGR && channels == 3) swap_red_blue(img);
  img.order = order;
  return img;
}

#ifdef RFCF_HAVE_LIBJPEG
inline Image decode_with_libjpeg(std::span<const uint8_t> bytes, ColorOrder order, int channels,
                                 uint64_t max_pixels, const std::string& name) {
  JpegDecoder d;
  int w = 0, h = 0;
  bool bgr = order == ColorOrder::BGR;
  if (!jpeg_read_header_phase(d, bytes.data(), bytes.size(), channels, bgr, &w, &h)) {
    std::string msg = d.err.message;
    jpeg_release(d);
    fail<FormatError>("image '", name, "': cannot decode JPEG (", msg, ")");
  }
  Image img;
  try {
    check_decoded_size(w, h, max_pixels, name);
    img = Image(w, h, channels, order);
  } catch (...) {
    jpeg_release(d);
    throw;
  }
  bool ok = jpeg_decode_phase(d, img.pixels.data(), img.row_bytes());
  std::string msg = d.err.message;
  jpeg_release(d);
  if (!ok) fail<FormatError>("image '", name, "': corrupt or truncated JPEG (", msg, ")");
  if (bgr && channels == 3 && !jpeg_native_bgr()) swap_red_blue(img);
  return img;
}
#endif

}  // namespace detail

enum class JpegBackend { Default, Stb, LibJpeg };

struct DecodeOptions {
  int channels = 3;  // 3: colour (grey files are expanded), 1: grey
  // Default: libjpeg when compiled in (RFCF_HAVE_LIBJPEG), else stb_image.
  JpegBackend jpeg_decoder = JpegBackend::Default;
  // Larger images are rejected before decoding (a few bytes of header can ask for gigabytes).
  uint64_t max_pixels = kMaxImagePixels;
};

inline bool have_libjpeg() {
#ifdef RFCF_HAVE_LIBJPEG
  return true;
#else
  return false;
#endif
}

// Decodes a JPEG or PNG held in memory. `name` only labels error messages. Alpha is dropped.
inline Image decode_image(std::span<const uint8_t> bytes, ColorOrder order = ColorOrder::RGB,
                          const DecodeOptions& opt = {}, const std::string& name = "<memory>") {
  check<ConfigError>(opt.channels == 1 || opt.channels == 3, "decode_image: channels must be 1 or 3, got ", opt.channels);
  ImageFormat fmt = sniff_format(bytes);
  if (fmt == ImageFormat::Jpeg) {
    bool use_libjpeg = opt.jpeg_decoder == JpegBackend::LibJpeg ||
                       (opt.jpeg_decoder == JpegBackend::Default && have_libjpeg());
    std::string problem = detail::jpeg_structure_problem(bytes, !use_libjpeg);
    check<FormatError>(problem.empty(), "image '", name, "': corrupt JPEG: ", problem);
    if (use_libjpeg) {
#ifdef RFCF_HAVE_LIBJPEG
      return detail::decode_with_libjpeg(bytes, order, opt.channels, opt.max_pixels, name);
#else
      fail<ConfigError>("decode_image: libjpeg requested but rfcf was built without RFCF_HAVE_LIBJPEG");
#endif
    }
    return detail::decode_with_stb(bytes, order, opt.channels, opt.max_pixels, name);
  }
  if (fmt == ImageFormat::Png) {
    std::string problem = detail::png_structure_problem(bytes);
    check<FormatError>(problem.empty(), "image '", name, "': corrupt PNG: ", problem);
    return detail::decode_with_stb(bytes, order, opt.channels, opt.max_pixels, name);
  }
  fail<FormatError>("image '", name, "': not a JPEG or PNG file (", bytes.size(), " bytes)");
}

inline Image read_image(const std::string& path, ColorOrder order = ColorOrder::RGB, const DecodeOptions& opt = {}) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes, order, opt, path);
}

namespace detail {
inline void append_bytes(void* ctx, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(ctx);
  auto* p = static_cast<const uint8_t*>(data);
  v->insert(v->end(), p, p + size);
}
// stb_image_write wants RGB order.
inline const uint8_t* rgb_pixels(const Image& img, Image& scratch) {
  if (img.channels == 3 && img.order == ColorOrder::BGR) {
    scratch = img;
    swap_red_blue(scratch);
    return scratch.pixels.data();
  }
  return img.pixels.data();
}
inline void check_encodable(const Image& img, const char* what) {
  check<ShapeError>(!img.empty(), what, ": empty image");
  check<ShapeError>(img.channels == 1 || img.channels == 3, what, ": channels must be 1 or 3, got ", img.channels);
  check<ShapeError>(img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels), what,
                    ": pixel buffer size ", img.pixels.size(), " does not match ", img.width, "x", img.height, "x",
                    img.channels);
}
}  // namespace detail

inline std::vector<uint8_t> encode_png(const Image& img) {
  detail::check_encodable(img, "encode_png");
  Image scratch;
  std::vector<uint8_t> out;
  int ok = stbi_write_png_to_func(detail::append_bytes, &out, img.width, img.height, img.channels,
                                  detail::rgb_pixels(img, scratch), static_cast<int>(img.row_bytes()));
  check<IoError>(ok != 0 && !out.empty(), "encode_png: encoder failed");
  return out;
}

// quality 1..100 (baseline JPEG written by stb_image_write).
inline std::vector<uint8_t> encode_jpeg(const Image& img, int quality = 95) {
  detail::check_encodable(img, "encode_jpeg");
  check<ConfigError>(quality >= 1 && quality <= 100, "encode_jpeg: quality must be in [1, 100], got ", quality);
  Image scratch;
  std::vector<uint8_t> out;
  int ok = stbi_write_jpg_to_func(detail::append_bytes, &out, img.width, img.height, img.channels,
                                  detail::rgb_pixels(img, scratch), quality);
  check<IoError>(ok != 0 && !out.empty(), "encode_jpeg: encoder failed");
  return out;
}

// Atomic: the file appears complete or not at all.
inline void write_png(const std::string& path, const Image& img) {
  std::vector<uint8_t> bytes = encode_png(img);
  atomic_write(path, bytes.data(), bytes.size());
}

inline void write_jpeg(const std::string& path, const Image& img, int quality = 95) {
  std::vector<uint8_t> bytes = encode_jpeg(img, quality);
  atomic_write(path, bytes.data(), bytes.size());
}

}  // namespace rfcf::io
