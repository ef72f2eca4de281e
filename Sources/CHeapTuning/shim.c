// The target's functions are static inline in include/CHeapTuning.h; SwiftPM needs one source file.
#include "CHeapTuning.h"
