#pragma once
// JPEG decoding with libjpeg(-turbo), compiled when RFCF_HAVE_LIBJPEG is defined (the CMake
// target defines it when find_package(JPEG) succeeds). This is the decoder OpenCV uses on
// Debian, with the same default settings (islow IDCT, fancy upsampling), so its pixels are
// identical to cv2.imread's.
//
// libjpeg reports fatal errors through a callback that must not return; we longjmp back.
// The functions that call setjmp hold only trivially destructible locals, so the jump skips
// no C++ destructor.
#ifdef RFCF_HAVE_LIBJPEG
#include <csetjmp>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include <jerror.h>
#include <jpeglib.h>

namespace rfcf::io::detail {

struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;  // set by warnings that mean "data missing" (we reject those files)
};

inline void jpeg_on_fatal(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

inline void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level != -1) return;  // trace messages
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  int code = cinfo->err->msg_code;
  // Premature end of file, or of an entropy-coded segment: the image is incomplete.
  if ((code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) && !err->truncated) {
    err->truncated = true;
    (*cinfo->err->format_message)(cinfo, err->message);
  }
  cinfo->err->num_warnings++;
}

// Decoder state that lives in the caller's frame between the two phases below.
struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  bool created = false;
};

// Phase 1: parse headers. Returns false (with err.message) on error.
// channels: 1 (grey) or 3; bgr selects the 3-channel byte order.
inline bool jpeg_read_header_phase(JpegDecoder& d, const unsigned char* data, size_t size,
                                   int channels, bool bgr, int* width, int* height) {
  d.cinfo.err = jpeg_std_error(&d.err.pub);
  d.err.pub.error_exit = jpeg_on_fatal;
  d.err.pub.emit_message = jpeg_on_message;
  d.err.truncated = false;
  d.err.message[0] = 0;
  if (setjmp(d.err.jump)) return false;
  jpeg_create_decompress(&d.cinfo);
  d.created = true;
  jpeg_mem_src(&d.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&d.cinfo, TRUE);
  if (channels == 1) {
    d.cinfo.out_color_space = JCS_GRAYSCALE;
  } else {
#ifdef JCS_EXTENSIONS
    d.cinfo.out_color_space = bgr ? JCS_EXT_BGR : JCS_RGB;
#else
    d.cinfo.out_color_space = JCS_RGB;  // caller swaps to BGR
#endif
  }
  jpeg_calc_output_dimensions(&d.cinfo);
  *width = static_cast<int>(d.cinfo.output_width);
  *height = static_cast<int>(d.cinfo.output_height);
  return true;
}

// Phase 2: decode all scanlines into out (height rows of width*channels bytes).
inline bool jpeg_decode_phase(JpegDecoder& d, unsigned char* out, size_t row_bytes) {
  if (setjmp(d.err.jump)) return false;
  jpeg_start_decompress(&d.cinfo);
  while (d.cinfo.output_scanline < d.cinfo.output_height) {
    JSAMPROW row = out + static_cast<size_t>(d.cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&d.cinfo, &row, 1);
    if (d.err.truncated) return false;
  }
  jpeg_finish_decompress(&d.cinfo);
  return !d.err.truncated;
}

inline void jpeg_release(JpegDecoder& d) {
  if (d.created) jpeg_destroy_decompress(&d.cinfo);
  d.created = false;
}

// True when the 3-channel output is already in BGR order for bgr == true.
constexpr bool jpeg_native_bgr() {
#ifdef JCS_EXTENSIONS
  return true;
#else
  return false;
#endif
}

}  // namespace rfcf::io::detail
#endif  // RFCF_HAVE_LIBJPEG
