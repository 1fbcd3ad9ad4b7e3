// The declaration in include/CFuzzerDriver.h is the whole of this module; libFuzzer defines the function.
#include "CFuzzerDriver.h"
