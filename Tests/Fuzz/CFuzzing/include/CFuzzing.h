#ifndef CFUZZING_H
#define CFUZZING_H

#include <stddef.h>
#include <stdint.h>

/// Hands the process to libFuzzer (built with -DFUZZING and -sanitize=fuzzer); -1 in a normal build.
int vs_fuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));

#endif
