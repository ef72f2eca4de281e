// Exposes Debian's libxxhash-dev header to Swift. XXH3 is stable API since xxHash 0.8.0.
#include <xxhash.h>
