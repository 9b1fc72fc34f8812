#include <poll.h>
#include <pthread.h>
#include "iscsi-prefetch.h"
#include <iscsi/scsi-lowlevel.h>

/* One READ(16) each (what tgtd takes in one command), aligned to their size on the LUN. */
#define CHUNK_SIZE (512 * 1024)
/* Read ahead of the reader: two of an overlay's 4 MiB files, while it writes the one before. */
#define READ_AHEAD 16
/* Commands in flight on the read-ahead's session. */
#define DEPTH 8
#define SLOTS (3 * READ_AHEAD)
/* The thread services its session at least this often, so libiscsi's command timeouts fire. */
#define POLL_MS 200

enum slot_state { SLOT_EMPTY, SLOT_QUEUED, SLOT_READING, SLOT_READY };

/* A slot's chunk, state and use are under `lock`; its data is written only while SLOT_READING. */
struct slot {
	struct iscsi_prefetch *owner;
	s64 chunk;
	s64 length;
	enum slot_state state;
	u64 used;   /* when last wanted: the least recent slot is reused first */
	int direct; /* libiscsi reads straight into `data` */
	u8 *data;   /* CHUNK_SIZE bytes, allocated at first use */
};

struct iscsi_prefetch {
	struct iscsi_context *iscsi; /* the thread's alone once it runs */
	int lun, block_size;
	s64 lun_size;
	struct slot slots[SLOTS];
	u64 clock;
	int queue[SLOTS]; /* slots queued, oldest first */
	int queue_head, queue_length;
	int in_flight;
	int broken; /* the session failed: nothing more is read ahead */
	int stopping;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
};

static struct slot *find(struct iscsi_prefetch *p, s64 chunk)
{
	for (int i = 0; i < SLOTS; i++)
		if (p->slots[i].state != SLOT_EMPTY && p->slots[i].chunk == chunk)
			return &p->slots[i];
	return NULL;
}

static void chunk_read(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct scsi_task *task = command_data;
	struct slot *s = private_data;
	struct iscsi_prefetch *p = s->owner;
	int good = status == SCSI_STATUS_GOOD && task &&
		   !(task->residual_status == SCSI_RESIDUAL_UNDERFLOW && task->residual > 0);
	if (good && !s->direct) {
		good = task->datain.size >= s->length;
		if (good)
			memcpy(s->data, task->datain.data, (size_t)s->length);
	}
	pthread_mutex_lock(&p->lock);
	s->state = good ? SLOT_READY : SLOT_EMPTY;
	p->in_flight--;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	if (task)
		scsi_free_scsi_task(task);
}

/* Sends queued chunks while fewer than DEPTH are in flight; under `lock`. */
static void send_queued(struct iscsi_prefetch *p)
{
	while (p->queue_length && p->in_flight < DEPTH && !p->broken) {
		struct slot *s = &p->slots[p->queue[p->queue_head]];
		p->queue_head = (p->queue_head + 1) % SLOTS;
		p->queue_length--;
		struct scsi_task *task =
			iscsi_read16_task(p->iscsi, p->lun, (uint64_t)(s->chunk * CHUNK_SIZE / p->block_size),
					  (uint32_t)s->length, p->block_size, 0, 0, 0, 0, 0, chunk_read, s);
		if (!task) {
			s->state = SLOT_EMPTY;
			p->broken = 1;
			break;
		}
		/* Straight into the slot (no data came yet: the socket was not serviced since the send). */
		s->direct = scsi_task_add_data_in_buffer(task, (int)s->length, s->data) == 0;
		s->state = SLOT_READING;
		p->in_flight++;
	}
}

/* Drops what is queued or in flight (a broken session, or the end): the reader reads those itself. */
static void give_up(struct iscsi_prefetch *p)
{
	for (; p->queue_length; p->queue_length--) {
		p->slots[p->queue[p->queue_head]].state = SLOT_EMPTY;
		p->queue_head = (p->queue_head + 1) % SLOTS;
	}
	pthread_cond_broadcast(&p->changed);
}

static void *prefetch_thread(void *argument)
{
	struct iscsi_prefetch *p = argument;
	pthread_mutex_lock(&p->lock);
	while (!p->stopping && !p->broken) {
		send_queued(p);
		if (!p->in_flight) {
			if (!p->queue_length)
				pthread_cond_wait(&p->changed, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		struct pollfd pfd = { .fd = iscsi_get_fd(p->iscsi), .events = (short)iscsi_which_events(p->iscsi) };
		int failed = (poll(&pfd, 1, POLL_MS) < 0 && errno != EINTR) || iscsi_service(p->iscsi, pfd.revents) < 0;
		pthread_mutex_lock(&p->lock);
		p->broken |= failed;
	}
	give_up(p);
	pthread_mutex_unlock(&p->lock);
	/* Commands still in flight are cancelled with the context: their callbacks empty their slots. */
	if (!p->broken)
		iscsi_logout_sync(p->iscsi);
	iscsi_destroy_context(p->iscsi);
	pthread_mutex_lock(&p->lock);
	p->in_flight = 0;
	for (int i = 0; i < SLOTS; i++)
		if (p->slots[i].state == SLOT_READING)
			p->slots[i].state = SLOT_EMPTY;
	p->broken = 1;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct iscsi_prefetch *iscsi_prefetch_new(struct iscsi_context *session, int lun, int block_size, s64 lun_size)
{
	struct iscsi_prefetch *p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->iscsi = session;
	p->lun = lun;
	p->block_size = block_size;
	p->lun_size = lun_size;
	for (int i = 0; i < SLOTS; i++)
		p->slots[i].owner = p;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	int error = pthread_create(&p->thread, NULL, prefetch_thread, p);
	if (error) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->changed);
		free(p);
		errno = error;
		return NULL;
	}
	return p;
}

/* The least recently wanted slot that is neither queued nor being read, or NULL; under `lock`. */
static struct slot *claim(struct iscsi_prefetch *p)
{
	struct slot *victim = NULL;
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &p->slots[i];
		if ((s->state == SLOT_EMPTY || s->state == SLOT_READY) && (!victim || s->used < victim->used))
			victim = s;
	}
	if (victim && !victim->data && !(victim->data = malloc(CHUNK_SIZE)))
		return NULL;
	return victim;
}

void iscsi_prefetch_ahead(struct iscsi_prefetch *p, s64 offset)
{
	pthread_mutex_lock(&p->lock);
	for (s64 chunk = offset / CHUNK_SIZE;
	     chunk < offset / CHUNK_SIZE + READ_AHEAD && chunk * CHUNK_SIZE < p->lun_size && !p->broken; chunk++) {
		if (find(p, chunk))
			continue;
		struct slot *s = claim(p);
		if (!s)
			break;
		s->chunk = chunk;
		s->length = p->lun_size - chunk * CHUNK_SIZE < CHUNK_SIZE ? p->lun_size - chunk * CHUNK_SIZE : CHUNK_SIZE;
		s->state = SLOT_QUEUED;
		s->used = ++p->clock;
		p->queue[(p->queue_head + p->queue_length++) % SLOTS] = (int)(s - p->slots);
	}
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

s64 iscsi_prefetch_take(struct iscsi_prefetch *p, void *buffer, s64 count, s64 offset)
{
	s64 chunk = offset / CHUNK_SIZE, from = offset % CHUNK_SIZE;
	pthread_mutex_lock(&p->lock);
	struct slot *s;
	while ((s = find(p, chunk)) && (s->state == SLOT_QUEUED || s->state == SLOT_READING))
		pthread_cond_wait(&p->changed, &p->lock);
	s64 n = 0;
	if (s && from < s->length) {
		n = s->length - from < count ? s->length - from : count;
		s->used = ++p->clock;
		/* A ready slot is only refilled by this (the reader's) thread's iscsi_prefetch_ahead. */
		pthread_mutex_unlock(&p->lock);
		memcpy(buffer, s->data + from, (size_t)n);
		return n;
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

s64 iscsi_prefetch_missing(struct iscsi_prefetch *p, s64 count, s64 offset)
{
	pthread_mutex_lock(&p->lock);
	s64 n = CHUNK_SIZE - offset % CHUNK_SIZE;
	while (n < count && !find(p, (offset + n) / CHUNK_SIZE))
		n += CHUNK_SIZE;
	pthread_mutex_unlock(&p->lock);
	return n < count ? n : count;
}

void iscsi_prefetch_free(struct iscsi_prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = 1;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	for (int i = 0; i < SLOTS; i++)
		free(p->slots[i].data);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->changed);
	free(p);
}
