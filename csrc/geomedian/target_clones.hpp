// GEOMEDIAN_CLONES marks a hot loop to be compiled once per x86-64 instruction-set level
// (baseline, v3 = AVX2, v4 = AVX-512) and chosen when the module loads (glibc ifunc), so a
// wheel built anywhere runs the widest code the CPU has. CMakeLists.txt defines
// GEOMEDIAN_TARGET_CLONES on x86-64 Linux unless GEOMEDIAN_NATIVE asks for -march=native.
#pragma once

#if defined(GEOMEDIAN_TARGET_CLONES)
#define GEOMEDIAN_CLONES \
    __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define GEOMEDIAN_CLONES
#endif
