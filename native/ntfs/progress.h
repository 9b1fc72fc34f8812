#ifndef LAMINA_PROGRESS_H
#define LAMINA_PROGRESS_H
#include <stdint.h>

/*
 * Progress as JSON lines on stdout: {"phase":"...","done":N,"total":N}. The driver turns them
 * into activity heartbeats, so lines are rate-limited (one per 200 ms) plus a final one.
 */
void progress_start(const char *phase, uint64_t total);
void progress_add(uint64_t done);
void progress_finish(void);

#endif
