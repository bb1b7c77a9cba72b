// FUZZ_CHECK: a property of a fuzz target. A violation prints what failed and
// aborts, which libFuzzer reports as a crash and saves the input.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                      \
  do {                                                                                              \
    if (!(cond)) {                                                                                  \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, what, #cond); \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (0)
