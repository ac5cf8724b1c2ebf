/* Small helpers shared by every module. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Wall-clock time in seconds with microseconds, as carried in events. */
double util_now_realtime(void);
/* CLOCK_MONOTONIC in microseconds. */
uint64_t util_now_monotonic_us(void);

/* Copy at most size-1 bytes and terminate; returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);
