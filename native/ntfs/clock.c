/*
 * A frozen clock. libntfs-3g stamps every inode it creates or changes with the current time
 * (creation, change and MFT-change times, directory updates). Same inputs must give a
 * byte-identical image, so this executable defines the libc time functions itself: the dynamic
 * linker binds libntfs-3g's calls to these definitions, and they return LAMINA_EPOCH (seconds
 * since 1970, chosen by the driver from the inputs). Without LAMINA_EPOCH the real clock is used.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <unistd.h>

static int frozen_seconds(time_t *out)
{
	const char *epoch = getenv("LAMINA_EPOCH");
	if (!epoch || !*epoch)
		return 0;
	*out = (time_t)strtoll(epoch, NULL, 10);
	return 1;
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
	time_t seconds;
	if (clock == CLOCK_REALTIME && frozen_seconds(&seconds)) {
		ts->tv_sec = seconds;
		ts->tv_nsec = 0;
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, clock, ts);
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;
	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *out)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (out)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
