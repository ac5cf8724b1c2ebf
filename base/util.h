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
/* Seconds since the epoch as the wall clock read at the first call, then
 * counted on CLOCK_MONOTONIC: what expires "in N seconds" stays N seconds
 * away when the wall clock is set (NTP after boot, a device without an
 * RTC starting in 1970), and values stored read back against the wall
 * clock of the next start.  util_steady_wall_at() is its arithmetic. */
int64_t util_now_steady_wall(void);
int64_t util_steady_wall_at(int64_t anchor_wall, uint64_t anchor_mono_us, uint64_t now_mono_us);

/* Copy at most size-1 bytes and terminate; returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);
