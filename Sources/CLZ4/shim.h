// Exposes Debian's liblz4-dev headers to Swift: the block API and its high-compression variant.
#include <lz4.h>
#include <lz4hc.h>
