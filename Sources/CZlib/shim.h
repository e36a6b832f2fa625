// zlib (Debian's zlib1g-dev), linked, never vendored. Spindle calls it from one Swift file:
// Sources/SpindleHTTP/GzipCompressor.swift.
#include <zlib.h>
