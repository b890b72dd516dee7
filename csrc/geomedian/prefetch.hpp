// Asking the memory system for bytes ahead of their use, one request per 64-byte line.
// The requests change no value. On x86-64 each is an asm statement the compiler must
// keep: GCC 12 deleted whole loops of __builtin_prefetch that had no other effect (the
// batch driver's requests for the next pack were not in the binary).
#pragma once

#include <algorithm>
#include <cstddef>

namespace geomedian {

inline void prefetch_span(const void* p, std::size_t bytes) {
    const char* c = static_cast<const char*>(p);
    for (std::size_t o = 0; o < bytes; o += 64) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        asm volatile("prefetcht0 %0" : : "m"(c[o]));
#elif defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(c + o);
#else
        (void)c;
#endif
    }
}

// A span asked for a few lines at a time, between other work: the requests of a whole
// span at once wait for the memory system to take them (it holds a few dozen lines in
// flight), and the work behind them waits too.
struct Ahead {
    const char* p = nullptr;
    std::size_t bytes = 0;
    void ask(std::size_t lines) {
        const std::size_t b = std::min(bytes, lines * 64);
        prefetch_span(p, b);
        p += b;
        bytes -= b;
    }
};

}  // namespace geomedian
