#include <stdarg.h>
#include <stdio.h>
#include "fail.h"

void fail(const char *fmt, ...)
{
	va_list args;
	va_start(args, fmt);
	fputs("lamina_ntfs: ", stderr);
	vfprintf(stderr, fmt, args);
	fputc('\n', stderr);
	va_end(args);
}
