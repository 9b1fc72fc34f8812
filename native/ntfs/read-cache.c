#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include "file-read.h"
#include "read-cache.h"

/*
 * Chunks are file offsets aligned to their size, as direct I/O wants. 512 KiB measured best in
 * alternating runs of the benchmark: its overlays took 7% longer on average with 1 MiB chunks,
 * more with 256 KiB, 2 MiB and 4 MiB (the same bytes cached and read ahead each time): larger
 * reads wait longer behind the image's multi-megabyte writes, smaller ones pay more per request.
 */
#define CHUNK_SIZE (512 * 1024)
#define SLOTS 64
/* Chunks read ahead of a file's data: the disk reads them while the core writes the last one. */
#define READ_AHEAD 8
#define ALIGNMENT 4096

enum slot_state { SLOT_EMPTY, SLOT_LOADING, SLOT_READY, SLOT_FAILED };

/*
 * Only the caller's thread assigns a slot a chunk (and marks it loading); the read-ahead thread
 * only fills the loading slots it is handed. So a ready slot's bytes can be copied without the lock.
 */
struct slot {
	u64 chunk;
	enum slot_state state; /* under `lock` */
	int error;             /* of a failed read, for the reader that wanted the chunk */
	u64 used;              /* when last wanted: the least recent slot is reused first */
	u8 *data;              /* CHUNK_SIZE bytes, aligned; allocated at first use */
};

struct read_cache {
	int fd;
	u64 chunks; /* in the file: none is read ahead past its end */
	struct slot slots[SLOTS];
	u64 clock;
	u64 next_chunk; /* the chunk after the last one read: a read from there on is sequential */
	/* Slots the read-ahead thread is to fill, oldest first; under `lock`. */
	int queue[SLOTS];
	int queue_head, queue_length;
	int stopping;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
};

/* Fills `slot` with its chunk (zeros past the end of the file); 0, or the errno of the failure. */
static int load(struct read_cache *c, struct slot *slot)
{
	return read_file_at(c->fd, slot->data, CHUNK_SIZE, slot->chunk * CHUNK_SIZE) ? errno : 0;
}

static void *read_ahead_thread(void *argument)
{
	struct read_cache *c = argument;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->queue_length && !c->stopping)
			pthread_cond_wait(&c->changed, &c->lock);
		if (c->stopping)
			break;
		struct slot *slot = &c->slots[c->queue[c->queue_head]];
		c->queue_head = (c->queue_head + 1) % SLOTS;
		c->queue_length--;
		pthread_mutex_unlock(&c->lock);
		int error = load(c, slot);
		pthread_mutex_lock(&c->lock);
		slot->state = error ? SLOT_FAILED : SLOT_READY;
		slot->error = error;
		pthread_cond_broadcast(&c->changed);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct read_cache *read_cache_new(int fd)
{
	struct stat st;
	if (fstat(fd, &st))
		return NULL;
	struct read_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->chunks = ((u64)st.st_size + CHUNK_SIZE - 1) / CHUNK_SIZE;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	int error = pthread_create(&c->thread, NULL, read_ahead_thread, c);
	if (error) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->changed);
		free(c);
		errno = error;
		return NULL;
	}
	return c;
}

void read_cache_free(struct read_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	for (int i = 0; i < SLOTS; i++)
		free(c->slots[i].data);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->changed);
	free(c);
}

/* The slot holding `chunk` in any state but empty, or NULL; under `lock`. */
static struct slot *find(struct read_cache *c, u64 chunk)
{
	for (int i = 0; i < SLOTS; i++)
		if (c->slots[i].state != SLOT_EMPTY && c->slots[i].chunk == chunk)
			return &c->slots[i];
	return NULL;
}

/* The least recently wanted slot not being loaded, given to `chunk` and marked loading; under `lock`. */
static struct slot *claim(struct read_cache *c, u64 chunk)
{
	struct slot *victim = NULL;
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &c->slots[i];
		if (s->state != SLOT_LOADING && (!victim || s->used < victim->used))
			victim = s;
	}
	if (!victim) {
		errno = EAGAIN; /* every slot loading: cannot happen while SLOTS > READ_AHEAD + 1 */
		return NULL;
	}
	if (!victim->data && posix_memalign((void **)&victim->data, ALIGNMENT, CHUNK_SIZE)) {
		victim->data = NULL;
		errno = ENOMEM;
		return NULL;
	}
	victim->chunk = chunk;
	victim->state = SLOT_LOADING;
	victim->used = ++c->clock;
	return victim;
}

/* Hands the chunks from `first` on that are not cached yet to the read-ahead thread. */
static void read_ahead(struct read_cache *c, u64 first)
{
	pthread_mutex_lock(&c->lock);
	for (u64 chunk = first; chunk < first + READ_AHEAD && chunk < c->chunks; chunk++) {
		if (find(c, chunk))
			continue;
		struct slot *slot = claim(c, chunk);
		if (!slot)
			break;
		c->queue[(c->queue_head + c->queue_length++) % SLOTS] = (int)(slot - c->slots);
	}
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

/* The ready slot of `chunk`: cached, being read ahead (waited for), or read now; NULL with errno set. */
static struct slot *ready(struct read_cache *c, u64 chunk)
{
	pthread_mutex_lock(&c->lock);
	struct slot *slot;
	while ((slot = find(c, chunk)) && slot->state == SLOT_LOADING)
		pthread_cond_wait(&c->changed, &c->lock);
	if (slot && slot->state == SLOT_FAILED) {
		slot->state = SLOT_EMPTY;
		pthread_mutex_unlock(&c->lock);
		errno = slot->error;
		return NULL;
	}
	if (slot) {
		slot->used = ++c->clock;
		pthread_mutex_unlock(&c->lock);
		return slot;
	}
	slot = claim(c, chunk);
	pthread_mutex_unlock(&c->lock);
	if (!slot)
		return NULL;
	int error = load(c, slot);
	pthread_mutex_lock(&c->lock);
	slot->state = error ? SLOT_EMPTY : SLOT_READY;
	pthread_mutex_unlock(&c->lock);
	errno = error;
	return error ? NULL : slot;
}

int read_cache_read(struct read_cache *c, u8 *target, s64 length, u64 at)
{
	if (length <= 0)
		return 0;
	/*
	 * Only a read that goes on from the last one reads ahead: an overlay's run of files does, a
	 * lone read (a layer's metadata file, a hive checked at open) would move megabytes for nothing.
	 */
	u64 first = at / CHUNK_SIZE, next = (at + (u64)length - 1) / CHUNK_SIZE + 1;
	if (first + 1 == c->next_chunk || first == c->next_chunk)
		read_ahead(c, next);
	c->next_chunk = next;
	for (s64 done = 0; done < length;) {
		u64 position = at + (u64)done;
		u64 in_chunk = position % CHUNK_SIZE;
		s64 piece = (s64)(CHUNK_SIZE - in_chunk) < length - done ? (s64)(CHUNK_SIZE - in_chunk) : length - done;
		struct slot *slot = ready(c, position / CHUNK_SIZE);
		if (!slot)
			return -1;
		memcpy(target + done, slot->data + in_chunk, (size_t)piece);
		done += piece;
	}
	return 0;
}
