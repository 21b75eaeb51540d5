#include "CFuzzing.h"

// LLVMFuzzerRunDriver is in libFuzzer's runtime, which only -sanitize=fuzzer links: a normal build must not
// name it. The harness keeps its own main (SwiftPM renames an executable's main and points `main` at it).
#ifdef FUZZING
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int vs_fuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
#else
int vs_fuzz_run_driver(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    (void)argc;
    (void)argv;
    (void)callback;
    return -1;
}
#endif
