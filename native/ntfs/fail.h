#ifndef LAMINA_FAIL_H
#define LAMINA_FAIL_H

/* Prints "lamina_ntfs: <message>" on stderr; the TypeScript driver shows it to the user. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
