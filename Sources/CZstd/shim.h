// Exposes Debian's libzstd-dev header to Swift. Only the stable API is used: we link dynamically.
#include <zstd.h>
