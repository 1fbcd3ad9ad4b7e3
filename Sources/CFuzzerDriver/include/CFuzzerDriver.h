#ifndef HERALD_CFUZZERDRIVER_H
#define HERALD_CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs with a main of their own (present when linked with
/// -sanitize=fuzzer; referenced by herald-fuzz only when built with -D FUZZING).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
