#include "base/util.h"

#include <string.h>

double util_now_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

uint64_t util_now_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int64_t util_steady_wall_at(int64_t anchor_wall, uint64_t anchor_mono_us, uint64_t now_mono_us)
{
	/* The monotonic clock never goes back; were it to, stay put. */
	if (now_mono_us < anchor_mono_us)
		return anchor_wall;
	return anchor_wall + (int64_t)((now_mono_us - anchor_mono_us) / 1000000u);
}

int64_t util_now_steady_wall(void)
{
	static int64_t anchor_wall;
	static uint64_t anchor_mono;
	static int anchored;

	if (!anchored) {
		anchor_wall = (int64_t)time(NULL);
		anchor_mono = util_now_monotonic_us();
		anchored = 1;
	}
	return util_steady_wall_at(anchor_wall, anchor_mono, util_now_monotonic_us());
}

size_t util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
