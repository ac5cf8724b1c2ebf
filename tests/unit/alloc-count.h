/* Shared by the unit tests that check "no allocation per event"
 * (test-snap.c, test-roam.c): count_setup() once, then count_start() ...
 * count_stop() around the code that must not allocate.  Include it from
 * one .c file per test program: it defines functions (and, without
 * sanitizers, malloc() and friends). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* ---- counting allocations ----
 *
 * Under AddressSanitizer its allocator calls a hook on every allocation;
 * otherwise this program's malloc(), calloc() and realloc() take the place
 * of glibc's (everything in the process, libc included, calls them) and
 * hand over to glibc's own, so free() stays glibc's. */
static bool counting;
static unsigned long allocations;

#if defined(__SANITIZE_ADDRESS__)
#define WITH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)            /* clang */
#define WITH_ASAN 1
#endif
#endif

#ifdef WITH_ASAN
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
					      void (*free_hook)(const volatile void *));

static void count_malloc(const volatile void *p, size_t size)
{
	if (counting)
		allocations++;
}

static void count_free(const volatile void *p)
{
}

static void count_setup(void)
{
	assert_true(__sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);

void *malloc(size_t size)
{
	if (counting)
		allocations++;
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	if (counting)
		allocations++;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	if (counting)
		allocations++;
	return __libc_realloc(p, size);
}

static void count_setup(void)
{
}
#endif

static void count_start(void)
{
	allocations = 0;
	counting = true;
}

static unsigned long count_stop(void)
{
	counting = false;
	return allocations;
}
