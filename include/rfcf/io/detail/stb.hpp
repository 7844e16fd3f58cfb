#pragma once
// stb_image / stb_image_write, compiled into every translation unit that includes rfcf.
//
// rfcf is header-only, so there is no single .cpp file to hold the stb implementation.
// Instead the implementation is compiled with STB_IMAGE_STATIC / STB_IMAGE_WRITE_STATIC:
// every function has internal linkage, each translation unit gets its own private copy
// and no symbol can clash at link time (with another TU, or with a user's own stb copy).
// Only the JPEG and PNG decoders are compiled (less code, less attack surface).
//
// Consequence for users: do not include <stb_image.h> or <stb_image_write.h> yourself
// BEFORE rfcf in the same translation unit (the include guards would then keep rfcf's
// static definitions out). Including them after rfcf, or in other translation units, is
// fine: the declarations rfcf already made are reused.
#if defined(STBI_INCLUDE_STB_IMAGE_H) && !defined(RFCF_STB_IMAGE_OWNED)
#error "rfcf: include rfcf before <stb_image.h> in this translation unit (see rfcf/io/detail/stb.hpp)"
#endif
#if defined(INCLUDE_STB_IMAGE_WRITE_H) && !defined(RFCF_STB_IMAGE_OWNED)
#error "rfcf: include rfcf before <stb_image_write.h> in this translation unit (see rfcf/io/detail/stb.hpp)"
#endif
#define RFCF_STB_IMAGE_OWNED 1

#include <zlib.h>

#include <cstdlib>

namespace rfcf::io::detail {
// stb_image_write's own deflate is slow and compresses poorly; zlib is a dependency anyway.
inline unsigned char* zlib_compress_for_stb(unsigned char* data, int len, int* out_len, int quality) {
  uLongf cap = compressBound(static_cast<uLong>(len));
  auto* out = static_cast<unsigned char*>(std::malloc(cap));
  if (!out) return nullptr;
  if (compress2(out, &cap, data, static_cast<uLong>(len), 6) != Z_OK) {
    std::free(out);
    return nullptr;
  }
  *out_len = static_cast<int>(cap);
  return out;
}
}  // namespace rfcf::io::detail

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif

#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
// Decoded images are bounded (a corrupt header cannot ask for 2^48 pixels).
#define STBI_MAX_DIMENSIONS (1 << 16)
#include <stb_image.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#define STBIW_ZLIB_COMPRESS rfcf::io::detail::zlib_compress_for_stb
#include <stb_image_write.h>

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
