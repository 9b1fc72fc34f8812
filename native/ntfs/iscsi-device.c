#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include "fail.h"
#include "iscsi-device.h"
#include "sized-device.h"
#include "window-cache.h"

/* Bytes per READ(16) (what tgtd and every target we met take in one command), and how many in flight. */
#define MAX_TRANSFER (512 * 1024)
#define READ_DEPTH 8
#define DEFAULT_TIMEOUT 15
/*
 * Reads at least this large are files' data (libntfs-3g reads a file's runs whole; metadata comes in
 * through the window cache, a window or a few at a time): the bytes after one are read ahead, up to
 * PREFETCH_MAX, in the background while the caller writes what it got. An overlay reads a layer's
 * files mostly in the order they lie on the LUN, so the next file is then already read by the target
 * (from its disk) and waiting on the connection, as the local compose's read cache (read-cache.c) has
 * the next file read while it writes the last. Without it the target's disk and the core took turns.
 */
#define PREFETCH_MINIMUM (1024 * 1024)
#define PREFETCH_MAX (8 * 1024 * 1024)
#define PREFETCH_CHUNKS (PREFETCH_MAX / MAX_TRANSFER + 1)

/* One READ(16) of a read: whole blocks, of which `n` bytes from `skip` go to `dest`. */
struct chunk {
	struct scsi_task *task; /* in flight while set */
	u8 *dest;
	s64 skip;
	s64 bytes;
	s64 n;
	int direct; /* libiscsi reads the blocks straight into `dest` */
	int failed;
};

/*
 * The bytes after the last large read, being read or held: [start, start + length) of the window.
 * Its READs have no libiscsi timeout (they may wait unserviced while the caller writes; a late answer
 * to a timed-out command would break the session): a read that needs them waits at most the timeout.
 */
struct prefetch {
	u8 *buffer; /* PREFETCH_MAX bytes, allocated at first use */
	s64 start;
	s64 length; /* 0: none */
	struct chunk chunks[PREFETCH_CHUNKS];
};

struct lun {
	struct sized_device base; /* first: sized-device.c's operations read it */
	char url[1024];
	s64 window_offset; /* where the volume starts on the LUN */
	s64 window_size;   /* 0: to the LUN's end */
	struct iscsi_context *iscsi;
	int lun;
	int block_size;
	int timeout; /* seconds */
	struct window_cache *cache;
	struct prefetch prefetch;
};

static struct lun *lun_of(struct ntfs_device *dev)
{
	return dev->d_private;
}

static int timeout_seconds(void)
{
	const char *text = getenv("LAMINA_ISCSI_TIMEOUT");
	int seconds = text ? atoi(text) : 0;
	return seconds > 0 ? seconds : DEFAULT_TIMEOUT;
}

/*
 * libiscsi's own timeout covers PDUs once connected; a portal that drops the TCP handshake would keep
 * the connect waiting for the kernel's minutes. The alarm ends that wait with the reason.
 */
static const char *login_url;
static void login_timed_out(int signal_number)
{
	static const char before[] = "lamina_ntfs: ", after[] = ": iSCSI login timed out (no answer from the portal)\n";
	(void)signal_number;
	/* write() alone: a signal handler may call nothing that allocates or locks. */
	if (write(STDERR_FILENO, before, sizeof(before) - 1) < 0 ||
	    write(STDERR_FILENO, login_url, strlen(login_url)) < 0 ||
	    write(STDERR_FILENO, after, sizeof(after) - 1) < 0)
		_exit(3);
	_exit(3);
}

static int lun_login(struct lun *l)
{
	const char *name = getenv("LAMINA_ISCSI_INITIATOR");
	const char *initiator = name && *name ? name : "iqn.2024-01.org.lamina:initiator";
	const char *user = getenv("LAMINA_ISCSI_CHAP_USER");
	const char *secret = getenv("LAMINA_ISCSI_CHAP_SECRET");
	l->iscsi = iscsi_create_context(initiator);
	if (!l->iscsi) {
		errno = ENOMEM;
		return -1;
	}
	struct iscsi_url *url = iscsi_parse_full_url(l->iscsi, l->url);
	if (!url) {
		fail("%s: not an iSCSI URL like iscsi://host:3260/iqn/lun (%s)", l->url, iscsi_get_error(l->iscsi));
		errno = EINVAL;
		return -1;
	}
	int timeout = l->timeout = timeout_seconds();
	iscsi_set_targetname(l->iscsi, url->target);
	iscsi_set_session_type(l->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(l->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	iscsi_set_timeout(l->iscsi, timeout);
	iscsi_set_tcp_user_timeout(l->iscsi, timeout * 1000);
	if (user && *user && iscsi_set_initiator_username_pwd(l->iscsi, user, secret ? secret : "")) {
		fail("%s: CHAP credentials not usable (%s)", l->url, iscsi_get_error(l->iscsi));
		iscsi_destroy_url(url);
		errno = EINVAL;
		return -1;
	}
	const char *target_user = getenv("LAMINA_ISCSI_TARGET_CHAP_USER");
	const char *target_secret = getenv("LAMINA_ISCSI_TARGET_CHAP_SECRET");
	if (target_user && *target_user &&
	    iscsi_set_target_username_pwd(l->iscsi, target_user, target_secret ? target_secret : "")) {
		fail("%s: mutual CHAP credentials not usable (%s)", l->url, iscsi_get_error(l->iscsi));
		iscsi_destroy_url(url);
		errno = EINVAL;
		return -1;
	}
	l->lun = url->lun;
	login_url = l->url;
	signal(SIGALRM, login_timed_out);
	alarm((unsigned)timeout);
	int reached = iscsi_connect_sync(l->iscsi, url->portal) == 0;
	int rc = reached ? iscsi_login_sync(l->iscsi) : -1;
	alarm(0);
	if (!reached) {
		fail("%s: cannot reach the iSCSI portal %s (refused, or no route to it)", l->url, url->portal);
		iscsi_destroy_url(url);
		errno = ECONNREFUSED;
		return -1;
	}
	iscsi_destroy_url(url);
	if (!rc) {
		/*
		 * Room in the socket for a whole read-ahead and a read besides: the target then sends all of
		 * it while the caller writes, instead of a socket's worth (128 KiB to start with) and then the
		 * rest in turns, each turn a wake-up of the target and then of this process, which on a busy
		 * machine is a scheduler's wait each. FORCE is root's (an engine's core runs as root); else
		 * as much as net.core.rmem_max allows.
		 */
		int room = PREFETCH_MAX + 2 * MAX_TRANSFER;
		if (setsockopt(iscsi_get_fd(l->iscsi), SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof(room)))
			setsockopt(iscsi_get_fd(l->iscsi), SOL_SOCKET, SO_RCVBUF, &room, sizeof(room));
	}
	if (rc) {
		const char *reason = iscsi_get_error(l->iscsi);
		if (strstr(reason, "uthentication")) {
			fail("%s: the target refused the login: CHAP user %s%s%s not accepted (%s)", l->url,
			     user && *user ? "'" : "", user && *user ? user : "(none given)", user && *user ? "'" : "",
			     reason);
			errno = EACCES;
		} else {
			/* A target hides itself from initiators its ACL does not name: say which one we are. */
			fail("%s: iSCSI login as %s failed (%s)", l->url, initiator, reason);
			errno = ECONNREFUSED;
		}
		return -1;
	}
	/* A fresh session starts with a unit attention (bus reset) on each LUN: TEST UNIT READY takes it. */
	for (int tries = 0; tries < 3; tries++) {
		struct scsi_task *ready = iscsi_testunitready_sync(l->iscsi, l->lun);
		int good = ready && ready->status == SCSI_STATUS_GOOD;
		int attention = ready && ready->status == SCSI_STATUS_CHECK_CONDITION &&
				ready->sense.key == SCSI_SENSE_UNIT_ATTENTION;
		int missing = ready && ready->status == SCSI_STATUS_CHECK_CONDITION &&
			      ready->sense.ascq == SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED;
		if (ready)
			scsi_free_scsi_task(ready);
		if (missing) {
			fail("%s: the target has no LUN %d", l->url, l->lun);
			errno = ENXIO;
			return -1;
		}
		if (good || !attention)
			break;
	}
	struct scsi_task *task = iscsi_readcapacity16_sync(l->iscsi, l->lun);
	struct scsi_readcapacity16 *capacity =
		task && task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
	if (!capacity) {
		fail("%s: READ CAPACITY failed (%s)", l->url, iscsi_get_error(l->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		errno = EIO;
		return -1;
	}
	l->block_size = (int)capacity->block_length;
	s64 lun_size = (s64)(capacity->returned_lba + 1) * capacity->block_length;
	scsi_free_scsi_task(task);
	if (l->window_offset + l->window_size > lun_size || l->window_offset >= lun_size) {
		fail("%s: the volume at %lld (+%lld) lies past the LUN's %lld bytes", l->url,
		     (long long)l->window_offset, (long long)l->window_size, (long long)lun_size);
		errno = EINVAL;
		return -1;
	}
	l->base.size = l->window_size ? l->window_size : lun_size - l->window_offset;
	return 0;
}

static void lun_logout(struct lun *l)
{
	if (!l->iscsi)
		return;
	iscsi_logout_sync(l->iscsi);
	iscsi_destroy_context(l->iscsi);
	l->iscsi = NULL;
}

static void chunk_read(struct iscsi_context *iscsi, int status, void *command_data, void *private_data)
{
	struct scsi_task *task = command_data;
	struct chunk *c = private_data;
	if (status != SCSI_STATUS_GOOD || !task)
		c->failed = 1;
	else if (c->direct)
		c->failed = task->residual_status == SCSI_RESIDUAL_UNDERFLOW && task->residual > 0;
	else if (task->datain.size >= c->bytes)
		memcpy(c->dest, task->datain.data + c->skip, (size_t)c->n);
	else
		c->failed = 1;
	c->task = NULL;
	if (task)
		scsi_free_scsi_task(task);
}

/*
 * Queues the READ(16) for up to MAX_TRANSFER of the `count` bytes at LUN offset `at` into `dest`;
 * `c->n` says how many it covers. 0, or -1 when libiscsi could not queue it.
 */
static int queue_chunk(struct lun *l, struct chunk *c, u8 *dest, s64 at, s64 count)
{
	s64 first = at / l->block_size;
	c->skip = at - first * l->block_size;
	s64 want = count + c->skip < MAX_TRANSFER ? count + c->skip : MAX_TRANSFER;
	c->bytes = (want + l->block_size - 1) / l->block_size * l->block_size;
	c->n = c->bytes - c->skip < count ? c->bytes - c->skip : count;
	c->dest = dest;
	c->failed = 0;
	c->task = iscsi_read16_task(l->iscsi, l->lun, (uint64_t)first, (uint32_t)c->bytes, l->block_size, 0, 0, 0,
				    0, 0, chunk_read, c);
	if (!c->task)
		return -1;
	/*
	 * Whole blocks wanted whole: libiscsi reads them straight into the caller's buffer (it has not
	 * serviced the socket since queueing the command, so no data came yet) instead of into a buffer of
	 * its own, allocated and copied for every command.
	 */
	c->direct = c->skip == 0 && c->n == c->bytes &&
		    scsi_task_add_data_in_buffer(c->task, (int)c->bytes, c->dest) == 0;
	return 0;
}

/* Sends what is queued and takes what came, waiting up to `wait_ms` for the socket; 0, or -1. */
static int service(struct lun *l, int wait_ms)
{
	struct pollfd pfd = { .fd = iscsi_get_fd(l->iscsi), .events = (short)iscsi_which_events(l->iscsi) };
	if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
		return -1;
	return iscsi_service(l->iscsi, pfd.revents) < 0 ? -1 : 0;
}

static int prefetch_in_flight(struct prefetch *p)
{
	for (int i = 0; i < PREFETCH_CHUNKS; i++)
		if (p->chunks[i].task)
			return 1;
	return 0;
}

/* Waits until the read-ahead has landed, at most the timeout; 0, or -1 (the session is unusable). */
static int prefetch_wait(struct lun *l)
{
	time_t deadline = time(NULL) + l->timeout;
	while (prefetch_in_flight(&l->prefetch))
		if (time(NULL) > deadline || service(l, 1000))
			return -1;
	return 0;
}

/* Whether the read-ahead holds, or is reading, `length` bytes from `start` and none of its READs failed. */
static int prefetch_holds(struct prefetch *p, s64 start, s64 length)
{
	for (int i = 0; i < PREFETCH_CHUNKS; i++)
		if (p->chunks[i].failed)
			return 0;
	return p->length && start >= p->start && start + length <= p->start + p->length;
}

/*
 * Starts reading `length` bytes from `start` of the window ahead, unless they are being read already.
 * Best effort: whatever goes wrong leaves no read-ahead, and the read that wanted it reads itself.
 */
static void prefetch_from(struct lun *l, s64 start, s64 length)
{
	struct prefetch *p = &l->prefetch;
	if (start >= l->base.size)
		return;
	if (length > l->base.size - start)
		length = l->base.size - start;
	if (prefetch_holds(p, start, length))
		return;
	/* One that was not wanted lands before its buffer is used again (its data is on the way). */
	if (prefetch_in_flight(p) && prefetch_wait(l))
		return;
	p->length = 0;
	if (!p->buffer && posix_memalign((void **)&p->buffer, 4096, PREFETCH_MAX))
		p->buffer = NULL;
	if (!p->buffer)
		return;
	memset(p->chunks, 0, sizeof(p->chunks));
	s64 at = l->window_offset + start, queued = 0;
	iscsi_set_timeout(l->iscsi, 0);
	for (int i = 0; i < PREFETCH_CHUNKS && queued < length; i++) {
		if (queue_chunk(l, &p->chunks[i], p->buffer + queued, at + queued, length - queued))
			break;
		queued += p->chunks[i].n;
	}
	iscsi_set_timeout(l->iscsi, l->timeout);
	p->start = start;
	p->length = queued;
	/* Sent now, not at the next read: the target reads them while the caller writes. */
	service(l, 0);
}

/*
 * `count` bytes at `offset` of the window (a window_fetch), in READ(16)s of whole blocks with up to
 * READ_DEPTH of them in flight: one at a time, every read waited a round trip and the target's disk,
 * and a compose read its layers at a fraction of what the target serves. What the read-ahead holds
 * comes from it; after a large read, the same number of bytes after it are read ahead.
 */
static int read_lun(void *source, void *buffer, s64 count, s64 offset)
{
	struct lun *l = source;
	struct prefetch *p = &l->prefetch;
	u8 *dest = buffer;
	s64 wanted = count, from = offset;
	int failed = 0;
	if (p->length && offset >= p->start && offset < p->start + p->length) {
		failed = prefetch_wait(l);
		s64 n = p->start + p->length - offset < count ? p->start + p->length - offset : count;
		if (!failed && prefetch_holds(p, offset, n)) {
			memcpy(dest, p->buffer + (offset - p->start), (size_t)n);
			dest += n;
			offset += n;
			count -= n;
		}
	}
	s64 at = l->window_offset + offset;
	struct chunk chunks[READ_DEPTH];
	memset(chunks, 0, sizeof(chunks));
	s64 issued = 0;
	int in_flight = 0;
	while (!failed && (issued < count || in_flight > 0)) {
		for (int i = 0; i < READ_DEPTH && issued < count; i++) {
			struct chunk *c = &chunks[i];
			if (c->task)
				continue;
			if (queue_chunk(l, c, dest + issued, at + issued, count - issued)) {
				failed = 1;
				break;
			}
			issued += c->n;
		}
		/* A second's poll at most: libiscsi times commands out only while it is serviced. */
		if (service(l, 1000))
			failed = 1;
		in_flight = 0;
		for (int i = 0; i < READ_DEPTH; i++) {
			in_flight += chunks[i].task != NULL;
			failed |= chunks[i].failed;
		}
	}
	if (!failed) {
		if (wanted >= PREFETCH_MINIMUM)
			prefetch_from(l, from + wanted, wanted < PREFETCH_MAX ? wanted : PREFETCH_MAX);
		return 0;
	}
	fail("%s: read of %lld bytes at %lld failed (%s)", l->url, (long long)wanted,
	     (long long)(l->window_offset + from), iscsi_get_error(l->iscsi));
	/* The chunks live on this stack: no callback may come for them after the return. */
	for (int i = 0; i < READ_DEPTH; i++)
		if (chunks[i].task)
			iscsi_scsi_cancel_task(l->iscsi, chunks[i].task);
	errno = EIO;
	return -1;
}

/* Lets a read-ahead still on the way land (or gives it up), and frees its buffer. */
static void prefetch_end(struct lun *l)
{
	struct prefetch *p = &l->prefetch;
	if (prefetch_in_flight(p) && prefetch_wait(l))
		for (int i = 0; i < PREFETCH_CHUNKS; i++)
			if (p->chunks[i].task)
				iscsi_scsi_cancel_task(l->iscsi, p->chunks[i].task);
	free(p->buffer);
	memset(p, 0, sizeof(*p));
}

static int lun_open(struct ntfs_device *dev, int flags)
{
	struct lun *l = lun_of(dev);
	if ((flags & O_ACCMODE) != O_RDONLY) {
		errno = EROFS;
		return -1;
	}
	if (lun_login(l)) {
		int error = errno;
		lun_logout(l);
		errno = error;
		return -1;
	}
	l->cache = window_cache_new(l->base.size, read_lun, l, READ_DEPTH);
	if (!l->cache) {
		lun_logout(l);
		errno = ENOMEM;
		return -1;
	}
	NDevSetOpen(dev);
	NDevSetReadOnly(dev);
	return 0;
}

static int lun_close(struct ntfs_device *dev)
{
	struct lun *l = lun_of(dev);
	window_cache_free(l->cache);
	l->cache = NULL;
	if (l->iscsi)
		prefetch_end(l);
	lun_logout(l);
	NDevClearOpen(dev);
	return 0;
}

static s64 lun_pread(struct ntfs_device *dev, void *buffer, s64 count, s64 offset)
{
	return window_cache_read(lun_of(dev)->cache, buffer, count, offset);
}

static s64 lun_pwrite(struct ntfs_device *dev, const void *buffer, s64 count, s64 offset)
{
	errno = EROFS;
	return -1;
}

static int lun_sync(struct ntfs_device *dev)
{
	return 0;
}

static struct ntfs_device_operations lun_operations = {
	.open = lun_open,
	.close = lun_close,
	.seek = sized_seek,
	.read = sized_read,
	.write = sized_write,
	.pread = lun_pread,
	.pwrite = lun_pwrite,
	.sync = lun_sync,
	.stat = sized_stat,
	.ioctl = sized_ioctl,
};

struct ntfs_device *iscsi_device_open(const char *spec)
{
	long long offset, size;
	int url_at = 0;
	if (sscanf(spec, ISCSI_PREFIX "%lld:%lld:%n", &offset, &size, &url_at) != 2 || !url_at || offset < 0 ||
	    size < 0 || strlen(spec + url_at) >= sizeof(((struct lun *)0)->url)) {
		errno = EINVAL;
		return NULL;
	}
	struct lun *l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	strcpy(l->url, spec + url_at);
	l->window_offset = offset;
	l->window_size = size;
	struct ntfs_device *dev = ntfs_device_alloc(spec, 0, &lun_operations, l);
	if (!dev)
		free(l);
	return dev;
}
