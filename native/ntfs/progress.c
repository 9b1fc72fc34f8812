#define _GNU_SOURCE
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "progress.h"

static const char *current_phase = "";
static uint64_t done_bytes, total_bytes;
static long long last_emit_ms;

/* Monotonic on purpose: the realtime clock may be frozen (see clock.c). */
static long long now_ms(void)
{
	struct timespec ts;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(void)
{
	printf("{\"phase\":\"%s\",\"done\":%llu,\"total\":%llu}\n", current_phase,
	       (unsigned long long)done_bytes, (unsigned long long)total_bytes);
	fflush(stdout);
	last_emit_ms = now_ms();
}

void progress_start(const char *phase, uint64_t total)
{
	current_phase = phase;
	done_bytes = 0;
	total_bytes = total;
	emit();
}

void progress_add(uint64_t done)
{
	done_bytes += done;
	if (now_ms() - last_emit_ms >= 200)
		emit();
}

void progress_finish(void)
{
	emit();
}
