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
	int read_ahead;
	s64 last_miss; /* start of the window missed last, -1: none */
	u8 *staging;   /* read_ahead windows, fetched as one read */
};

struct window_cache *window_cache_new(s64 size, window_fetch fetch, void *source, int read_ahead)
{
	struct window_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->size = size;
	c->fetch = fetch;
	c->source = source;
	c->read_ahead = read_ahead < 1 ? 1 : read_ahead > WINDOWS / 2 ? WINDOWS / 2 : read_ahead;
	c->last_miss = -1;
	if (c->read_ahead > 1 && !(c->staging = malloc((size_t)c->read_ahead * WINDOW_CACHE_WINDOW))) {
		free(c);
		return NULL;
	}
	return c;
}

/* The least recently used window, its buffer allocated; NULL when out of memory. */
static struct window *victim_of(struct window_cache *c)
{
	struct window *victim = &c->windows[0];
	for (int i = 0; i < WINDOWS; i++) {
		struct window *w = &c->windows[i];
		if (!w->data || w->last_used < victim->last_used)
			victim = w;
		if (!w->data)
			break;
	}
	if (!victim->data && !(victim->data = malloc(WINDOW_CACHE_WINDOW))) {
		errno = ENOMEM;
		return NULL;
	}
	return victim;
}

static struct window *cached(struct window_cache *c, s64 start)
{
	for (int i = 0; i < WINDOWS; i++)
		if (c->windows[i].data && c->windows[i].start == start)
			return &c->windows[i];
	return NULL;
}

/* Fetches the windows from `start` on that a forward reader will want next, into victims; 0 or -1. */
static int read_ahead(struct window_cache *c, s64 start)
{
	int count = 0;
	while (count < c->read_ahead && start + (s64)count * WINDOW_CACHE_WINDOW < c->size &&
	       (count == 0 || !cached(c, start + (s64)count * WINDOW_CACHE_WINDOW)))
		count++;
	s64 end = start + (s64)count * WINDOW_CACHE_WINDOW < c->size ? start + (s64)count * WINDOW_CACHE_WINDOW : c->size;
	if (c->fetch(c->source, c->staging, end - start, start))
		return -1;
	for (s64 at = start; at < end; at += WINDOW_CACHE_WINDOW) {
		struct window *w = victim_of(c);
		if (!w)
			return -1;
		w->start = at;
		w->length = end - at < WINDOW_CACHE_WINDOW ? end - at : WINDOW_CACHE_WINDOW;
		w->last_used = ++c->clock;
		memcpy(w->data, c->staging + (at - start), (size_t)w->length);
	}
	return 0;
}

/* The cached window holding `offset`, fetched if needed (least recently used one replaced). */
static struct window *window_for(struct window_cache *c, s64 offset)
{
	s64 start = offset - offset % WINDOW_CACHE_WINDOW;
	struct window *hit = cached(c, start);
	if (hit) {
		hit->last_used = ++c->clock;
		return hit;
	}
	int forward = c->last_miss >= 0 && start == c->last_miss + WINDOW_CACHE_WINDOW;
	c->last_miss = start;
	if (forward && c->read_ahead > 1)
		return read_ahead(c, start) ? NULL : cached(c, start);
	struct window *victim = victim_of(c);
	if (!victim)
		return NULL;
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
	free(c->staging);
	free(c);
}
