#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
// Debian's zlib1g-dev: raw DEFLATE streams for permessage-deflate (RFC 7692), wrapped by
// SBCompression only.
#include <zlib.h>

// deflateInit2 and inflateInit2 are function-like macros (they pass ZLIB_VERSION and the
// struct size): Swift cannot import them. Every name starts with CZlib_.

static inline int CZlib_deflateInit2(z_streamp stream, int level, int windowBits, int memLevel) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}

static inline int CZlib_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

#endif
