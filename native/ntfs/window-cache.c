#include "window-cache.h"

#define WINDOWS 16

struct window {
	s64 start; /* -1: empty */
	s64 length;
	u64 last_used;
	u8 *data;
};

struct window_cache {
	s64 size;
	window_fetch fetch;
	void *source;
	struct window windows[WINDOWS];
	u64 clock;
};

struct window_cache *window_cache_new(s64 size, window_fetch fetch, void *source)
{
	struct window_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->size = size;
	c->fetch = fetch;
	c->source = source;
	return c;
}

/* The cached window holding `offset`, fetched if needed (least recently used one replaced). */
static struct window *window_for(struct window_cache *c, s64 offset)
{
	s64 start = offset - offset % WINDOW_CACHE_WINDOW;
	struct window *victim = &c->windows[0];
	for (int i = 0; i < WINDOWS; i++) {
		struct window *w = &c->windows[i];
		if (w->data && w->start == start) {
			w->last_used = ++c->clock;
			return w;
		}
		if (!w->data || w->last_used < victim->last_used)
			victim = w;
	}
	if (!victim->data && !(victim->data = malloc(WINDOW_CACHE_WINDOW))) {
		errno = ENOMEM;
		return NULL;
	}
	victim->start = start;
	victim->length = c->size - start < WINDOW_CACHE_WINDOW ? c->size - start : WINDOW_CACHE_WINDOW;
	victim->last_used = ++c->clock;
	if (c->fetch(c->source, victim->data, victim->length, start)) {
		victim->start = -1;
		return NULL;
	}
	return victim;
}

s64 window_cache_read(struct window_cache *c, void *buffer, s64 count, s64 offset)
{
	if (offset >= c->size || count <= 0)
		return 0;
	if (count > c->size - offset)
		count = c->size - offset;
	if (count >= WINDOW_CACHE_WINDOW)
		return c->fetch(c->source, buffer, count, offset) ? -1 : count;
	for (s64 done = 0; done < count;) {
		struct window *w = window_for(c, offset + done);
		if (!w)
			return -1;
		s64 from = offset + done - w->start;
		s64 n = w->length - from < count - done ? w->length - from : count - done;
		memcpy((u8 *)buffer + done, w->data + from, (size_t)n);
		done += n;
	}
	return count;
}

void window_cache_free(struct window_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < WINDOWS; i++)
		free(c->windows[i].data);
	free(c);
}
