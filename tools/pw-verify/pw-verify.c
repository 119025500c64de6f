/*
 * pw-verify: a write verifier for issue 17 ("no stale write ever lands"). It writes sequence-stamped
 * blocks into a region of a LUN through iSCSI (libiscsi, many writes in flight), follows the disk across
 * its paths like a multipath host, then reads the region back and reports every acknowledged write that
 * is not on the disk.
 *
 *   pw-verify --url iscsi://IP[:PORT]/TARGET-IQN/LUN [--url ...] [options]
 *
 * Options (numbers are decimal or 0x-hex):
 *   --url URL           a path of the disk (repeat: up to 16; the first one that answers is used first)
 *   --initiator IQN     initiator name (default iqn.2016-05.io.portway:pw-verify)
 *   --user U --password P   CHAP (also from the URL: iscsi://user%password@...)
 *   --blocks N          blocks in the region (default 1024, at most 16M)
 *   --lba-start L       first LBA of the region (default 0)
 *   --block-size B      expected block size: start fails unless READ CAPACITY(16) says B (the size used is
 *                       always READ CAPACITY(16)'s)
 *   --queue-depth Q     writes in flight (1..256, default 16; at most --blocks)
 *   --seconds S         how long to write (default 10; 0 = until SIGTERM/SIGINT)
 *   --max-writes N      stop issuing after N writes (default 0: no limit)
 *   --cmd-timeout S     a command unanswered for S seconds fails the session (default 10)
 *   --give-up S         after a session failure, try the paths for S seconds before giving up (default 60;
 *                       0: no reconnecting)
 *   --seed N            seed of the block choice (default: from time and pid; printed in the result)
 *   --fua               set FUA on every write (acknowledged = on stable storage)
 *   --state FILE        write the per-block record there after writing (before the read-back)
 *   --continue          load --state FILE first and go on from it: same run id, sequence numbers go on,
 *                       the region comes from the file (a later run on the same history)
 *   --verify-only       no writing: read the region and check it against --state FILE
 *
 * How it writes. Blocks of the region are chosen at random (seeded), so each is overwritten many times;
 * a block never has two writes in flight at once (SCSI does not order commands in flight, so two
 * concurrent writes to one block could land in any order). Every write gets the next global sequence
 * number (64-bit, from 1). Block layout (little endian):
 *   0 magic "PWVERIFY" | 8 LBA u64 | 16 sequence u64 | 24 run id u64 | 32 block size u32 | 36 zero u32 |
 *   40 filler (a pseudo-random stream from LBA and sequence) | last 4 bytes: CRC-32 (IEEE) of the rest
 *
 * Sessions. Connect + login only (no TEST UNIT READY, as tools/pw-scsi), no automatic reconnect inside
 * libiscsi. When the session fails (transport error, connection closed, a command older than
 * --cmd-timeout), the writes in flight are NOT acknowledged: each is recorded "in doubt" (it may or may
 * not have landed) and never re-sent. Then the next path that answers is logged into (the URLs in turn,
 * starting after the one that failed), for up to --give-up seconds. UNIT ATTENTION means the command was
 * not executed: it is re-sent as it was (same sequence); BUSY / TASK SET FULL likewise after 10 ms. Any
 * other failed status makes the write in doubt. SIGTERM/SIGINT: stop issuing, drain, write the state,
 * read back and verify.
 *
 * Per block the record keeps A = the highest acknowledged sequence, P = the acknowledged sequence before
 * A (0 if none), and the in-doubt sequences above A. The read-back finds D on the disk and classifies:
 *   ok     D == A, or D is an in-doubt write above A (it landed: allowed), or the block has no
 *          acknowledged write at all;
 *   lost   the acknowledged write A is simply not there: D == P (the disk still holds the write
 *          acknowledged before A, so A never landed), or the block holds no valid stamp of this run for
 *          this LBA (zeros, garbage, bad CRC, another LBA's or another run's block), or D is a sequence
 *          above A that was never written to this block;
 *   stale  an older write landed after a newer one was acknowledged: D is a valid stamp of this run for
 *          this block with D < A and D != P. Either D is older than P (it overwrote two acknowledged
 *          writes: only a late landing explains that with one fault), or D is a write that was in doubt
 *          when A was issued and landed after A was acknowledged — the late write of a failed path. (The
 *          latter could in theory also be "A lost after D landed on time"; the disk cannot tell, and
 *          either way an acknowledged write was undone.)
 *
 * Output: progress once a second and session events on stderr; one JSON line on stdout at the end:
 *   {"ok", "mode", "run_id", "seed", "block_size", "lba_start", "blocks", "queue_depth", "seconds",
 *    "writes_issued", "acked_writes", "acked_writes_total" (with a --continue'd history), "in_doubt_writes",
 *    "ua_retries", "busy_retries", "write_errors", "reconnects", "url" (the path used last),
 *    "blocks_checked", "blocks_acked", "in_doubt_landed", "lost", "stale", "problems": [{"lba", "kind",
 *    "reason", "on_disk_seq" (null: no valid stamp), "acked_seq", "prev_acked_seq"}] (first 32),
 *    "state_file", "error" (when something failed), "stage" (where)}
 * Exit: 0 no lost/stale write; 1 some; 2 usage, bad state file, or no path answering at the start;
 *   3 the run could not finish (the disk was lost for good after --give-up, or a read-back failed; the
 *   state file is written all the same, for a later --verify-only).
 *
 * State file (text, written to FILE.tmp then renamed):
 *   pw-verify-state 1 / run_id HEX / block_size N / lba_start N / blocks N / next_seq N / acked_writes N /
 *   one line per block with a record: "b LBA ACKED PREV DOUBT,DOUBT,..." ("-" when none) / end
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define MAX_URLS 16
#define MAX_QD 256
#define MAX_BLOCKS (16u * 1024u * 1024u)
#define MIN_BLOCK_SIZE 512u
#define MAX_BLOCK_SIZE (1024u * 1024u)
#define READ_CHUNK_BYTES (256u * 1024u)
#define MAX_PROBLEMS 32
#define UA_RETRY_LIMIT 100    /* unit attentions in a row for one command before it counts as failed */
#define STAMP_HEADER 40u
#define MAGIC "PWVERIFY"
#define STATE_HEADER "pw-verify-state 1"

/* ---- options ---------------------------------------------------------------------------------- */

static struct {
  const char *urls[MAX_URLS];
  int n_urls;
  const char *initiator, *user, *password, *state_file;
  uint64_t blocks, lba_start, seed, max_writes, block_size;
  int blocks_set, lba_start_set, seed_set, qd, fua, verify_only, cont;
  double seconds, cmd_timeout, give_up;
} opt = {
    .initiator = "iqn.2016-05.io.portway:pw-verify",
    .blocks = 1024,
    .qd = 16,
    .seconds = 10,
    .cmd_timeout = 10,
    .give_up = 60,
};

/* ---- the disk's paths and the current session ------------------------------------------------- */

struct path {
  const char *url;
  char portal[MAX_STRING_SIZE + 1];
  char target[MAX_STRING_SIZE + 1];
  char user[MAX_STRING_SIZE + 1];
  char passwd[MAX_STRING_SIZE + 1];
  int lun;
};
static struct path paths[MAX_URLS];
static int cur_path = -1;              /* index into paths of the session's path */
static struct iscsi_context *iscsi;    /* NULL: no session */
static char fail_reason[600];          /* why the session failed */

static uint32_t bs;                    /* block size (READ CAPACITY 16) */
static uint64_t disk_blocks;           /* blocks of the LUN */
static uint64_t run_id, next_seq = 1;

static volatile sig_atomic_t stop_requested;

/* ---- counters and the result ------------------------------------------------------------------ */

static struct {
  uint64_t issued, acked, acked_before, in_doubt, ua_retries, busy_retries, write_errors, reconnects;
  uint64_t checked, blocks_acked, doubt_landed, lost, stale;
  double seconds;
} st;

struct problem {
  uint64_t lba, on_disk, acked, prev;
  int has_seq;
  const char *kind, *reason;
};
static struct problem problems[MAX_PROBLEMS];
static int n_problems;

/* ---- per-block record ------------------------------------------------------------------------- */

struct block {
  uint64_t acked;   /* A: highest acknowledged sequence (0: none) */
  uint64_t prev;    /* P: the acknowledged sequence before A (0: none) */
  uint64_t *doubt;  /* in-doubt sequences above A, increasing */
  uint32_t n_doubt, cap_doubt;
  uint8_t busy;     /* a write to it is in flight or waiting to be re-sent */
};
static struct block *blk;

/* ---- small utilities -------------------------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("pw-verify: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* Sets fail_reason (its arguments may include fail_reason itself: formatted into a copy first). */
static void set_reason(const char *fmt, ...) {
  char tmp[sizeof fail_reason];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  memcpy(fail_reason, tmp, sizeof tmp);
}

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (p == NULL) {
    logf_("out of memory");
    exit(3);
  }
  return p;
}

static void put64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint32_t get32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* CRC-32 (IEEE, as zlib's crc32()), table driven. */
static uint32_t crc_table[256];
static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    crc_table[i] = c;
  }
}
static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  while (n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

/* splitmix64: the block choice and the filler. */
static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Decimal or 0x-hex, no sign, no trailing characters, no overflow. */
static int parse_u64(const char *s, uint64_t *out) {
  int base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (*s == '\0') return -1;
  for (const char *p = s; *p; p++) {
    if (base == 10 ? !(*p >= '0' && *p <= '9')
                   : !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
      return -1;
  }
  errno = 0;
  unsigned long long v = strtoull(s, NULL, base);
  if (errno == ERANGE) return -1;
  *out = v;
  return 0;
}

/* ---- JSON result ------------------------------------------------------------------------------ */

static void json_str(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p == '\n') fputs("\\n", stdout);
    else if (*p < 0x20 || *p >= 0x7f) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

/* Prints the result line and exits with code. error/stage: NULL when the run finished. */
static void finish(int code, const char *stage, const char *error) {
  printf("{\"ok\":%s,\"mode\":\"%s\"", code == 0 ? "true" : "false", opt.verify_only ? "verify-only" : "write");
  printf(",\"run_id\":\"%016" PRIx64 "\"", run_id);
  if (opt.verify_only) fputs(",\"seed\":null", stdout);
  else printf(",\"seed\":%" PRIu64, opt.seed);
  printf(",\"block_size\":%" PRIu32 ",\"lba_start\":%" PRIu64 ",\"blocks\":%" PRIu64 ",\"queue_depth\":%d,\"seconds\":%.3f",
         bs, opt.lba_start, opt.blocks, opt.qd, st.seconds);
  printf(",\"writes_issued\":%" PRIu64 ",\"acked_writes\":%" PRIu64 ",\"acked_writes_total\":%" PRIu64
         ",\"in_doubt_writes\":%" PRIu64 ",\"ua_retries\":%" PRIu64 ",\"busy_retries\":%" PRIu64
         ",\"write_errors\":%" PRIu64 ",\"reconnects\":%" PRIu64,
         st.issued, st.acked, st.acked_before + st.acked, st.in_doubt, st.ua_retries, st.busy_retries, st.write_errors,
         st.reconnects);
  fputs(",\"url\":", stdout);
  if (cur_path >= 0) json_str(paths[cur_path].url);
  else fputs("null", stdout);
  printf(",\"blocks_checked\":%" PRIu64 ",\"blocks_acked\":%" PRIu64 ",\"in_doubt_landed\":%" PRIu64
         ",\"lost\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"problems\":[",
         st.checked, st.blocks_acked, st.doubt_landed, st.lost, st.stale);
  for (int i = 0; i < n_problems; i++) {
    const struct problem *p = &problems[i];
    printf("%s{\"lba\":%" PRIu64 ",\"kind\":\"%s\",\"reason\":", i ? "," : "", p->lba, p->kind);
    json_str(p->reason);
    if (p->has_seq) printf(",\"on_disk_seq\":%" PRIu64, p->on_disk);
    else fputs(",\"on_disk_seq\":null", stdout);
    printf(",\"acked_seq\":%" PRIu64 ",\"prev_acked_seq\":%" PRIu64 "}", p->acked, p->prev);
  }
  putchar(']');
  fputs(",\"state_file\":", stdout);
  if (opt.state_file) json_str(opt.state_file);
  else fputs("null", stdout);
  if (error) {
    fputs(",\"stage\":", stdout);
    json_str(stage ? stage : "");
    fputs(",\"error\":", stdout);
    json_str(error);
  }
  fputs("}\n", stdout);
  fflush(stdout);
  exit(code);
}

static void usage_exit(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr,
          "pw-verify: %s\nusage: pw-verify --url iscsi://IP[:PORT]/TARGET-IQN/LUN [--url ...] [--initiator IQN]\n"
          "  [--user U --password P] [--blocks N] [--lba-start L] [--block-size B] [--queue-depth Q]\n"
          "  [--seconds S] [--max-writes N] [--cmd-timeout S] [--give-up S] [--seed N] [--fua]\n"
          "  [--state FILE [--continue | --verify-only]]\n",
          msg);
  finish(2, "usage", msg);
}

/* ---- libiscsi callbacks ----------------------------------------------------------------------- */

/* One command's completion, filled in by on_op (called from iscsi_service or iscsi_destroy_context). */
struct op {
  int done, status;
  int sense_key, asc, ascq;
  struct scsi_task *task;
  char err[256]; /* libiscsi's error when it failed the command itself (later errors overwrite its text) */
};

static void on_op(struct iscsi_context *ctx, int status, void *command_data, void *private_data) {
  struct op *o = private_data;
  o->done = 1;
  o->status = status;
  struct scsi_task *t = command_data && status != SCSI_STATUS_CANCELLED ? command_data : o->task;
  if (status == SCSI_STATUS_CHECK_CONDITION && t) {
    o->sense_key = t->sense.key;
    o->asc = (t->sense.ascq >> 8) & 0xff;
    o->ascq = t->sense.ascq & 0xff;
  }
  if (status == SCSI_STATUS_ERROR || status == SCSI_STATUS_TIMEOUT) snprintf(o->err, sizeof o->err, "%s", iscsi_get_error(ctx));
}

/*
 * One step of libiscsi's event loop: poll up to ms, then iscsi_service. Returns -1 when the session
 * failed (reason in fail_reason); completions seen in this step are already recorded in their ops.
 * logged_in: the session must be logged in (false while connecting).
 */
static int pump(int ms, int logged_in) {
  struct pollfd pfd = {.fd = iscsi_get_fd(iscsi), .events = (short)iscsi_which_events(iscsi)};
  int use = pfd.fd >= 0 && pfd.events != 0;
  int n = poll(use ? &pfd : NULL, use ? 1 : 0, ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    snprintf(fail_reason, sizeof fail_reason, "poll: %s", strerror(errno));
    return -1;
  }
  short rev = use && n > 0 ? pfd.revents : 0;
  if (iscsi_service(iscsi, rev) < 0) {
    char why[512];
    snprintf(why, sizeof why, "%s", iscsi_get_error(iscsi));
    snprintf(fail_reason, sizeof fail_reason, "transport: %s", why[0] ? why : "iscsi_service failed");
    return -1;
  }
  if (rev & (POLLHUP | POLLERR)) {
    snprintf(fail_reason, sizeof fail_reason, "connection closed");
    return -1;
  }
  if (logged_in && !iscsi_is_logged_in(iscsi)) {
    snprintf(fail_reason, sizeof fail_reason, "logged out");
    return -1;
  }
  return 0;
}

/* Waits for o until deadline. 0: done (any status); -1: the session failed or the deadline passed. */
static int wait_op(struct op *o, double deadline, int logged_in) {
  while (!o->done) {
    double left = deadline - now_s();
    if (left <= 0) {
      snprintf(fail_reason, sizeof fail_reason, "no answer within %.1f s", opt.cmd_timeout);
      return -1;
    }
    int ms = left > 0.1 ? 100 : (int)(left * 1000) + 1;
    if (pump(ms, logged_in) < 0) return o->done ? 0 : -1;
  }
  return 0;
}

/* ---- connecting ------------------------------------------------------------------------------- */

static void drop_session(void) {
  if (iscsi) iscsi_destroy_context(iscsi); /* in-flight callbacks run now with SCSI_STATUS_CANCELLED */
  iscsi = NULL;
}

/* connect + login to path i (deliberately not iscsi_full_connect: its TEST UNIT READYs would swallow the
   unit attentions). 0 on success; -1 with the reason in fail_reason. */
static int connect_path(int i, double deadline) {
  const struct path *p = &paths[i];
  fail_reason[0] = '\0';
  iscsi = iscsi_create_context(opt.initiator);
  if (iscsi == NULL) {
    snprintf(fail_reason, sizeof fail_reason, "cannot create an iSCSI context (bad initiator name?)");
    return -1;
  }
  const char *user = opt.user ? opt.user : p->user[0] ? p->user : NULL;
  const char *pass = opt.user ? opt.password : p->passwd;
  if (iscsi_set_targetname(iscsi, p->target) != 0 || iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL) != 0 ||
      (user && iscsi_set_initiator_username_pwd(iscsi, user, pass) != 0)) {
    snprintf(fail_reason, sizeof fail_reason, "setup: %s", iscsi_get_error(iscsi));
    drop_session();
    return -1;
  }
  iscsi_set_noautoreconnect(iscsi, 1);
  struct op o = {0};
  if (iscsi_connect_async(iscsi, p->portal, on_op, &o) != 0 || wait_op(&o, deadline, 0) < 0 ||
      o.status != SCSI_STATUS_GOOD) {
    set_reason("connect %s: %s", p->portal, o.err[0] ? o.err : fail_reason[0] ? fail_reason : iscsi_get_error(iscsi));
    drop_session();
    return -1;
  }
  memset(&o, 0, sizeof o);
  fail_reason[0] = '\0';
  if (iscsi_login_async(iscsi, on_op, &o) != 0 || wait_op(&o, deadline, 0) < 0 || o.status != SCSI_STATUS_GOOD) {
    set_reason("login %s: %s", p->url, o.err[0] ? o.err : fail_reason[0] ? fail_reason : iscsi_get_error(iscsi));
    drop_session();
    return -1;
  }
  cur_path = i;
  fail_reason[0] = '\0';
  return 0;
}

/* Sleeps ms (woken early by a signal). */
static void nap(int ms) { poll(NULL, 0, ms); }

/*
 * After a session failure: the next path that answers, starting after the one that failed, in turn,
 * for up to --give-up seconds. 0 when a session is up again; -1 when it gave up.
 */
static int reconnect(void) {
  double deadline = now_s() + opt.give_up;
  int i = cur_path < 0 ? 0 : cur_path;
  int failed_in_round = 0;
  char last[600] = "";
  while (now_s() < deadline) {
    i = (i + 1) % opt.n_urls;
    double until = now_s() + opt.cmd_timeout;
    if (connect_path(i, until < deadline ? until : deadline) == 0) {
      st.reconnects++;
      logf_("reconnected through %s", paths[i].url);
      return 0;
    }
    snprintf(last, sizeof last, "%s", fail_reason);
    if (++failed_in_round >= opt.n_urls) {
      failed_in_round = 0;
      nap(250); /* every path refused: a breath before the next round */
    }
  }
  logf_("gave up after %.0f s without a path: %s", opt.give_up, last);
  set_reason("no path answered within --give-up %.0f s (last: %s)", opt.give_up, last);
  return -1;
}

/* ---- synchronous commands (READ CAPACITY, the read-back) -------------------------------------- */

typedef struct scsi_task *(*make_task)(struct op *o, const void *arg);

/*
 * Runs one command to a GOOD status: re-sent after UNIT ATTENTION / BUSY / TASK SET FULL, and after a
 * session failure on the next path (reconnect). Returns the task (caller frees it), or NULL on a failure
 * the command cannot get past (message in fail_reason; *gave_up set when no path answered any more).
 */
static struct scsi_task *run_sync(make_task make, const void *arg, const char *what, int *gave_up) {
  static struct op o; /* static: a callback from a torn-down session never writes to a dead frame */
  int uas = 0, sessions = 0;
  *gave_up = 0;
  for (;;) {
    if (iscsi == NULL && (++sessions > 100 || reconnect() < 0)) {
      if (sessions > 100) snprintf(fail_reason, sizeof fail_reason, "%s: failed on 100 sessions in a row", what);
      *gave_up = 1;
      return NULL;
    }
    memset(&o, 0, sizeof o);
    fail_reason[0] = '\0';
    o.task = make(&o, arg);
    if (o.task == NULL || wait_op(&o, now_s() + opt.cmd_timeout, 1) < 0 || o.status == SCSI_STATUS_CANCELLED ||
        o.status == SCSI_STATUS_ERROR || o.status == SCSI_STATUS_TIMEOUT) {
      if (fail_reason[0] == '\0') snprintf(fail_reason, sizeof fail_reason, "%s", iscsi_get_error(iscsi));
      logf_("%s: session through %s failed: %s", what, paths[cur_path].url, fail_reason);
      struct scsi_task *t = o.task;
      drop_session();
      if (t) scsi_free_scsi_task(t);
      continue;
    }
    if (o.status == SCSI_STATUS_GOOD) return o.task;
    int retry = 0;
    if (o.status == SCSI_STATUS_CHECK_CONDITION && o.sense_key == SCSI_SENSE_UNIT_ATTENTION && ++uas <= UA_RETRY_LIMIT) {
      retry = 1;
      st.ua_retries++;
    } else if (o.status == SCSI_STATUS_BUSY || o.status == SCSI_STATUS_TASK_SET_FULL) {
      retry = 1;
      st.busy_retries++;
      nap(10);
    }
    if (!retry) {
      snprintf(fail_reason, sizeof fail_reason, "%s: status 0x%x sense key %d asc 0x%02x ascq 0x%02x", what, o.status,
               o.sense_key, o.asc, o.ascq);
      scsi_free_scsi_task(o.task);
      return NULL;
    }
    scsi_free_scsi_task(o.task);
  }
}

static struct scsi_task *make_readcap(struct op *o, const void *arg) {
  (void)arg;
  return iscsi_readcapacity16_task(iscsi, paths[cur_path].lun, on_op, o);
}

struct read_arg {
  uint64_t lba;
  uint32_t n;
};
static struct scsi_task *make_read(struct op *o, const void *arg) {
  const struct read_arg *r = arg;
  return iscsi_read16_task(iscsi, paths[cur_path].lun, r->lba, r->n * bs, (int)bs, 0, 0, 0, 0, 0, on_op, o);
}

/* ---- stamps ----------------------------------------------------------------------------------- */

static void stamp(unsigned char *b, uint64_t lba, uint64_t seq) {
  memcpy(b, MAGIC, 8);
  put64(b + 8, lba);
  put64(b + 16, seq);
  put64(b + 24, run_id);
  put32(b + 32, bs);
  put32(b + 36, 0);
  uint64_t x = lba * 0x2545f4914f6cdd1dull ^ seq;
  for (uint32_t i = STAMP_HEADER; i < bs - 4; i += 8) {
    uint64_t r = splitmix(&x);
    for (uint32_t k = 0; k < 8 && i + k < bs - 4; k++) b[i + k] = (unsigned char)(r >> (8 * k));
  }
  put32(b + bs - 4, crc32_ieee(b, bs - 4));
}

/* Reads the stamp of the block at lba. NULL when valid (*seq set); otherwise why it is not. */
static const char *read_stamp(const unsigned char *b, uint64_t lba, uint64_t *seq) {
  if (memcmp(b, MAGIC, 8) != 0) {
    for (uint32_t i = 0; i < bs; i++)
      if (b[i]) return "no stamp (not written by pw-verify)";
    return "no stamp (zeros)";
  }
  if (crc32_ieee(b, bs - 4) != get32(b + bs - 4)) return "bad checksum (torn or damaged block)";
  if (get32(b + 32) != bs) return "stamp of another block size";
  if (get64(b + 24) != run_id) return "stamp of another run";
  if (get64(b + 8) != lba) return "stamp of another LBA (misdirected write)";
  *seq = get64(b + 16);
  if (*seq == 0) return "stamp with sequence 0 (never issued)";
  return NULL;
}

/* ---- per-block bookkeeping -------------------------------------------------------------------- */

static void doubt_add(struct block *b, uint64_t seq) {
  if (b->n_doubt == b->cap_doubt) {
    uint32_t cap = b->cap_doubt ? b->cap_doubt * 2 : 4;
    uint64_t *d = realloc(b->doubt, cap * sizeof *d);
    if (d == NULL) {
      logf_("out of memory");
      exit(3);
    }
    b->doubt = d;
    b->cap_doubt = cap;
  }
  b->doubt[b->n_doubt++] = seq;
}

static int doubt_has(const struct block *b, uint64_t seq) {
  for (uint32_t i = 0; i < b->n_doubt; i++)
    if (b->doubt[i] == seq) return 1;
  return 0;
}

/* An acknowledged write: it becomes A, the old A becomes P, in-doubt writes at or below it are dropped. */
static void ack(struct block *b, uint64_t seq) {
  b->prev = b->acked;
  b->acked = seq;
  uint32_t k = 0;
  for (uint32_t i = 0; i < b->n_doubt; i++)
    if (b->doubt[i] > seq) b->doubt[k++] = b->doubt[i];
  b->n_doubt = k;
}

/* ---- the writer ------------------------------------------------------------------------------- */

enum slot_state { FREE, INFLIGHT, RESEND };
struct slot {
  enum slot_state state;
  uint64_t idx, seq; /* block index in the region, sequence */
  unsigned char *buf;
  struct op op;
  double issued, resend_at;
  int uas;
};
static struct slot *slots;

/* Sends slot s's write on the current session. -1: libiscsi would not queue it (the session is down). */
static int send_slot(struct slot *s) {
  memset(&s->op, 0, sizeof s->op);
  s->op.task = iscsi_write16_task(iscsi, paths[cur_path].lun, opt.lba_start + s->idx, s->buf, bs, (int)bs, 0, 0,
                                  opt.fua, 0, 0, on_op, &s->op);
  if (s->op.task == NULL) {
    snprintf(fail_reason, sizeof fail_reason, "cannot queue a write: %s", iscsi_get_error(iscsi));
    s->state = RESEND; /* never sent: it stays a plain pending write */
    s->resend_at = 0;
    return -1;
  }
  s->state = INFLIGHT;
  s->issued = now_s();
  return 0;
}

static void release_slot(struct slot *s) {
  blk[s->idx].busy = 0;
  s->state = FREE;
}

/* A write that may or may not have landed: recorded, never re-sent. */
static void in_doubt(struct slot *s) {
  doubt_add(&blk[s->idx], s->seq);
  st.in_doubt++;
  release_slot(s);
}

/* Handles the slots whose command completed (before any session failure is acted on). */
static void reap(double *pause_until) {
  for (int i = 0; i < opt.qd; i++) {
    struct slot *s = &slots[i];
    if (s->state != INFLIGHT || !s->op.done) continue;
    int status = s->op.status;
    if (status == SCSI_STATUS_CANCELLED || status == SCSI_STATUS_ERROR || status == SCSI_STATUS_TIMEOUT)
      continue; /* the session is going down: handled by session_lost() */
    scsi_free_scsi_task(s->op.task);
    s->op.task = NULL;
    if (status == SCSI_STATUS_GOOD) {
      ack(&blk[s->idx], s->seq);
      st.acked++;
      release_slot(s);
    } else if (status == SCSI_STATUS_CHECK_CONDITION && s->op.sense_key == SCSI_SENSE_UNIT_ATTENTION &&
               ++s->uas <= UA_RETRY_LIMIT) {
      st.ua_retries++; /* not executed: send it again as it is */
      s->state = RESEND;
      s->resend_at = 0;
    } else if (status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL) {
      st.busy_retries++;
      s->state = RESEND;
      s->resend_at = now_s() + 0.01;
    } else {
      st.write_errors++;
      if (st.write_errors <= 10)
        logf_("write of LBA %" PRIu64 " failed: status 0x%x sense key %d asc 0x%02x ascq 0x%02x (in doubt)",
              opt.lba_start + s->idx, status, s->op.sense_key, s->op.asc, s->op.ascq);
      in_doubt(s);
      *pause_until = now_s() + 0.05; /* no busy loop on a target that refuses every write */
    }
  }
}

/* The session failed: every write in flight becomes in doubt; the session is torn down. */
static void session_lost(void) {
  int n = 0;
  struct scsi_task *tasks[MAX_QD];
  int nt = 0;
  for (int i = 0; i < opt.qd; i++) {
    struct slot *s = &slots[i];
    if (s->state != INFLIGHT) continue;
    if (s->op.task) tasks[nt++] = s->op.task;
    s->op.task = NULL;
    in_doubt(s);
    n++;
  }
  logf_("session through %s failed: %s; %d write(s) in flight are in doubt", paths[cur_path].url,
        fail_reason[0] ? fail_reason : "?", n);
  drop_session(); /* their callbacks run now (CANCELLED) into ops that are no longer looked at */
  for (int i = 0; i < nt; i++) scsi_free_scsi_task(tasks[i]);
}

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* Writes until --seconds / --max-writes / a signal, then drains. 0, or -1 when the disk was lost for good. */
static int write_phase(void) {
  slots = xcalloc((size_t)opt.qd, sizeof *slots);
  for (int i = 0; i < opt.qd; i++) slots[i].buf = xcalloc(1, bs);
  uint64_t rng = opt.seed;
  double t0 = now_s(), end = opt.seconds > 0 ? t0 + opt.seconds : 0, next_report = t0 + 1, pause_until = 0;
  uint64_t acked_at_report = 0;
  logf_("writing %" PRIu64 " blocks of %" PRIu32 " bytes from LBA %" PRIu64 ", queue depth %d, run %016" PRIx64
        ", seed %" PRIu64,
        opt.blocks, bs, opt.lba_start, opt.qd, run_id, opt.seed);
  for (;;) {
    double now = now_s();
    int stopping = stop_requested || (end > 0 && now >= end) || (opt.max_writes && st.issued >= opt.max_writes);
    int busy = 0, failed = 0;
    for (int i = 0; i < opt.qd && !failed; i++) {
      struct slot *s = &slots[i];
      if (s->state == RESEND && s->resend_at <= now && send_slot(s) < 0) failed = 1;
      if (s->state == FREE && !stopping && now >= pause_until && !(opt.max_writes && st.issued >= opt.max_writes)) {
        /* a random block with nothing in flight (qd <= blocks, so one is free) */
        uint64_t idx = splitmix(&rng) % opt.blocks;
        while (blk[idx].busy) idx = (idx + 1) % opt.blocks;
        blk[idx].busy = 1;
        s->idx = idx;
        s->seq = next_seq++;
        s->uas = 0;
        stamp(s->buf, opt.lba_start + idx, s->seq);
        st.issued++;
        if (send_slot(s) < 0) failed = 1;
      }
      if (s->state != FREE) busy++;
    }
    if (!failed) {
      if (busy == 0 && stopping) break;
      failed = pump(busy ? 50 : 10, 1) < 0;
      reap(&pause_until);
      now = now_s();
      for (int i = 0; i < opt.qd && !failed; i++) {
        const struct slot *s = &slots[i];
        if (s->state != INFLIGHT) continue;
        if (s->op.done) { /* left by reap(): libiscsi cancelled it or gave up on it */
          snprintf(fail_reason, sizeof fail_reason, "a write ended with libiscsi status 0x%x: %s", s->op.status,
                   iscsi_get_error(iscsi));
          failed = 1;
        } else if (now - s->issued > opt.cmd_timeout) {
          snprintf(fail_reason, sizeof fail_reason, "a write unanswered for %.0f s (--cmd-timeout)", opt.cmd_timeout);
          failed = 1;
        }
      }
    }
    if (failed) {
      session_lost();
      if (reconnect() < 0) {
        st.seconds = now_s() - t0;
        return -1;
      }
    }
    if (now >= next_report) {
      int inflight = 0;
      for (int i = 0; i < opt.qd; i++) inflight += slots[i].state == INFLIGHT;
      logf_("%4.0fs acked %" PRIu64 " (+%" PRIu64 "/s) in flight %d in doubt %" PRIu64 " reconnects %" PRIu64
            " UA retries %" PRIu64 " via %s%s",
            now - t0, st.acked, st.acked - acked_at_report, inflight, st.in_doubt, st.reconnects, st.ua_retries,
            paths[cur_path].url, stopping ? " (draining)" : "");
      acked_at_report = st.acked;
      next_report += 1;
      if (next_report < now) next_report = now + 1;
    }
  }
  st.seconds = now_s() - t0;
  logf_("wrote for %.1f s: %" PRIu64 " acked, %" PRIu64 " in doubt, %" PRIu64 " reconnects", st.seconds, st.acked,
        st.in_doubt, st.reconnects);
  for (int i = 0; i < opt.qd; i++) free(slots[i].buf);
  free(slots);
  slots = NULL;
  return 0;
}

/* ---- the read-back ---------------------------------------------------------------------------- */

static void problem(uint64_t lba, const char *kind, const char *reason, int has_seq, uint64_t seq, const struct block *b) {
  if (n_problems < MAX_PROBLEMS)
    problems[n_problems++] = (struct problem){.lba = lba, .on_disk = seq, .has_seq = has_seq, .acked = b->acked,
                                              .prev = b->prev, .kind = kind, .reason = reason};
  if (n_problems <= 10)
    logf_("%s: LBA %" PRIu64 ": %s (acked %" PRIu64 ", previous ack %" PRIu64 ", on disk %s%" PRIu64 ")", kind, lba,
          reason, b->acked, b->prev, has_seq ? "" : "no stamp: ", seq);
}

/* Classifies one block read back (see the definitions at the top). */
static void check_block(uint64_t idx, const unsigned char *data) {
  const struct block *b = &blk[idx];
  uint64_t lba = opt.lba_start + idx, seq = 0;
  const char *bad = read_stamp(data, lba, &seq);
  st.checked++;
  if (b->acked == 0) { /* nothing acknowledged: whatever is there is allowed */
    if (!bad && doubt_has(b, seq)) st.doubt_landed++;
    return;
  }
  st.blocks_acked++;
  if (bad) {
    st.lost++;
    problem(lba, "lost", bad, 0, 0, b);
  } else if (seq == b->acked) {
    /* ok */
  } else if (seq > b->acked) {
    if (doubt_has(b, seq)) {
      st.doubt_landed++;
    } else {
      st.lost++;
      problem(lba, "lost", "a sequence above the acknowledged one that was never written to this block", 1, seq, b);
    }
  } else if (seq == b->prev) {
    st.lost++;
    problem(lba, "lost", "the write acknowledged before the last one: the last acknowledged write did not land", 1, seq, b);
  } else {
    st.stale++;
    problem(lba, "stale",
            seq < b->prev ? "a write older than an earlier acknowledged one landed after the newer acknowledgements"
                          : "a write in doubt (issued before the last acknowledged one) landed after it",
            1, seq, b);
  }
}

/* Reads the region back and checks every block. -1 when a read could not be done. */
static int verify_phase(void) {
  uint32_t chunk = READ_CHUNK_BYTES / bs ? READ_CHUNK_BYTES / bs : 1;
  logf_("reading back %" PRIu64 " blocks", opt.blocks);
  for (uint64_t idx = 0; idx < opt.blocks;) {
    struct read_arg r = {.lba = opt.lba_start + idx, .n = opt.blocks - idx < chunk ? (uint32_t)(opt.blocks - idx) : chunk};
    int gave_up;
    struct scsi_task *t = run_sync(make_read, &r, "read-back", &gave_up);
    if (t == NULL) return -1;
    if (t->datain.size != (int)(r.n * bs)) {
      snprintf(fail_reason, sizeof fail_reason, "short read at LBA %" PRIu64 ": %d of %" PRIu32 " bytes", r.lba,
               t->datain.size, r.n * bs);
      scsi_free_scsi_task(t);
      return -1;
    }
    for (uint32_t k = 0; k < r.n; k++) check_block(idx + k, t->datain.data + (size_t)k * bs);
    scsi_free_scsi_task(t);
    idx += r.n;
  }
  logf_("checked %" PRIu64 " blocks (%" PRIu64 " with acknowledged writes): %" PRIu64 " lost, %" PRIu64
        " stale, %" PRIu64 " in-doubt writes landed",
        st.checked, st.blocks_acked, st.lost, st.stale, st.doubt_landed);
  return 0;
}

/* ---- the state file --------------------------------------------------------------------------- */

static int save_state(void) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", opt.state_file) >= (int)sizeof tmp) return -1;
  FILE *f = fopen(tmp, "w");
  if (f == NULL) return -1;
  fprintf(f, STATE_HEADER "\nrun_id %016" PRIx64 "\nblock_size %" PRIu32 "\nlba_start %" PRIu64 "\nblocks %" PRIu64
             "\nnext_seq %" PRIu64 "\nacked_writes %" PRIu64 "\n",
          run_id, bs, opt.lba_start, opt.blocks, next_seq, st.acked_before + st.acked);
  for (uint64_t i = 0; i < opt.blocks; i++) {
    const struct block *b = &blk[i];
    if (b->acked == 0 && b->n_doubt == 0) continue;
    fprintf(f, "b %" PRIu64 " %" PRIu64 " %" PRIu64 " ", opt.lba_start + i, b->acked, b->prev);
    if (b->n_doubt == 0) fputc('-', f);
    for (uint32_t k = 0; k < b->n_doubt; k++) fprintf(f, "%s%" PRIu64, k ? "," : "", b->doubt[k]);
    fputc('\n', f);
  }
  fputs("end\n", f);
  int bad = ferror(f) != 0;
  bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, opt.state_file) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* Reads the line "KEY NUMBER" (decimal; hex digits for run_id) into *v; counts the line in *lineno. */
static int state_kv(FILE *f, const char *key, uint64_t *v, int hex, uint64_t *lineno) {
  char line[128], num[72];
  if (fgets(line, sizeof line, f) == NULL) return -1;
  ++*lineno;
  size_t len = strlen(line), klen = strlen(key);
  if (len < klen + 3 || line[len - 1] != '\n' || strncmp(line, key, klen) != 0 || line[klen] != ' ') return -1;
  line[len - 1] = '\0';
  if (strlen(line + klen + 1) > 64) return -1;
  snprintf(num, sizeof num, "%s%s", hex ? "0x" : "", line + klen + 1);
  return parse_u64(num, v);
}

/* Loads --state FILE into blk (allocated for the file's region) or exits 2 with the reason. */
static void load_state(void) {
  FILE *f = fopen(opt.state_file, "r");
  if (f == NULL) {
    char msg[600];
    snprintf(msg, sizeof msg, "cannot read the state file %s: %s", opt.state_file, strerror(errno));
    finish(2, "state", msg);
  }
  char *line = NULL;
  size_t cap = 0;
  uint64_t v_bs, v_start, v_blocks, v_next, v_acked;
  const char *err = NULL;
  char hdr[64];
  uint64_t lineno = 1;
  if (fgets(hdr, sizeof hdr, f) == NULL || strcmp(hdr, STATE_HEADER "\n") != 0) err = "not a pw-verify state file";
  else if (state_kv(f, "run_id", &run_id, 1, &lineno) < 0 || state_kv(f, "block_size", &v_bs, 0, &lineno) < 0 ||
           state_kv(f, "lba_start", &v_start, 0, &lineno) < 0 || state_kv(f, "blocks", &v_blocks, 0, &lineno) < 0 ||
           state_kv(f, "next_seq", &v_next, 0, &lineno) < 0 || state_kv(f, "acked_writes", &v_acked, 0, &lineno) < 0)
    err = "bad header line";
  else if (v_bs < MIN_BLOCK_SIZE || v_bs > MAX_BLOCK_SIZE || v_blocks == 0 || v_blocks > MAX_BLOCKS ||
           v_start > UINT64_MAX - v_blocks || v_next == 0)
    err = "header values out of range";
  else if ((opt.blocks_set && opt.blocks != v_blocks) || (opt.lba_start_set && opt.lba_start != v_start))
    err = "--blocks/--lba-start differ from the state file's region";
  int ended = 0;
  if (!err) {
    opt.blocks = v_blocks;
    opt.lba_start = v_start;
    bs = (uint32_t)v_bs;
    next_seq = v_next;
    st.acked_before = v_acked;
    blk = xcalloc(opt.blocks, sizeof *blk);
    ssize_t n;
    while (!err && (n = getline(&line, &cap, f)) > 0) {
      lineno++;
      if (line[n - 1] != '\n') {
        err = "truncated line";
        break;
      }
      line[n - 1] = '\0';
      if (ended) {
        err = "text after the end line";
        break;
      }
      if (strcmp(line, "end") == 0) {
        ended = 1;
        continue;
      }
      char *save = NULL, *w[6];
      int nw = 0;
      for (char *tok = strtok_r(line, " ", &save); tok && nw < 6; tok = strtok_r(NULL, " ", &save)) w[nw++] = tok;
      uint64_t lba, acked, prev;
      if (nw != 5 || strcmp(w[0], "b") != 0 || parse_u64(w[1], &lba) < 0 || parse_u64(w[2], &acked) < 0 ||
          parse_u64(w[3], &prev) < 0) {
        err = "bad block line";
        break;
      }
      if (lba < opt.lba_start || lba - opt.lba_start >= opt.blocks) {
        err = "block line outside the region";
        break;
      }
      struct block *b = &blk[lba - opt.lba_start];
      if (b->acked || b->prev || b->n_doubt) {
        err = "LBA listed twice";
        break;
      }
      if (acked >= next_seq || (acked ? prev >= acked : prev != 0)) {
        err = "acked/previous sequences inconsistent";
        break;
      }
      b->acked = acked;
      b->prev = prev;
      if (strcmp(w[4], "-") != 0) {
        uint64_t last = acked;
        for (char *tok = strtok_r(w[4], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
          uint64_t d;
          if (parse_u64(tok, &d) < 0 || d <= last || d >= next_seq) {
            err = "in-doubt sequences must increase, above the acked one, below next_seq";
            break;
          }
          doubt_add(b, d);
          last = d;
        }
        if (!err && b->n_doubt == 0) err = "empty in-doubt list";
      }
      if (!err && b->acked == 0 && b->n_doubt == 0) err = "block line without a record";
    }
    if (!err && !ended) err = "no end line (truncated file?)";
  }
  free(line);
  fclose(f);
  if (err) {
    char msg[700];
    snprintf(msg, sizeof msg, "state file %s, line %" PRIu64 ": %s", opt.state_file, lineno, err);
    finish(2, "state", msg);
  }
}

/* ---- start ------------------------------------------------------------------------------------ */

static double parse_seconds(const char *name, const char *v, double min, double max) {
  uint64_t x;
  if (parse_u64(v, &x) < 0 || (double)x < min || (double)x > max)
    usage_exit("%s takes %.0f..%.0f seconds", name, min, max);
  return (double)x;
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--fua")) {
      opt.fua = 1;
      continue;
    }
    if (!strcmp(a, "--verify-only")) {
      opt.verify_only = 1;
      continue;
    }
    if (!strcmp(a, "--continue")) {
      opt.cont = 1;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) usage_exit("unexpected argument '%.100s'", a);
    if (i + 1 >= argc) usage_exit("%.60s needs a value", a);
    const char *v = argv[++i];
    uint64_t x;
    if (!strcmp(a, "--url")) {
      if (opt.n_urls == MAX_URLS) usage_exit("at most %d --url", MAX_URLS);
      opt.urls[opt.n_urls++] = v;
    } else if (!strcmp(a, "--initiator")) opt.initiator = v;
    else if (!strcmp(a, "--user")) opt.user = v;
    else if (!strcmp(a, "--password")) opt.password = v;
    else if (!strcmp(a, "--state")) opt.state_file = v;
    else if (!strcmp(a, "--blocks")) {
      if (parse_u64(v, &x) < 0 || x < 1 || x > MAX_BLOCKS) usage_exit("--blocks takes 1..%u", MAX_BLOCKS);
      opt.blocks = x;
      opt.blocks_set = 1;
    } else if (!strcmp(a, "--lba-start")) {
      if (parse_u64(v, &x) < 0) usage_exit("--lba-start takes an LBA");
      opt.lba_start = x;
      opt.lba_start_set = 1;
    } else if (!strcmp(a, "--block-size")) {
      if (parse_u64(v, &x) < 0 || x < MIN_BLOCK_SIZE || x > MAX_BLOCK_SIZE)
        usage_exit("--block-size takes %u..%u", MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
      opt.block_size = x;
    } else if (!strcmp(a, "--queue-depth")) {
      if (parse_u64(v, &x) < 0 || x < 1 || x > MAX_QD) usage_exit("--queue-depth takes 1..%d", MAX_QD);
      opt.qd = (int)x;
    } else if (!strcmp(a, "--seconds")) opt.seconds = parse_seconds(a, v, 0, 86400 * 7);
    else if (!strcmp(a, "--cmd-timeout")) opt.cmd_timeout = parse_seconds(a, v, 1, 3600);
    else if (!strcmp(a, "--give-up")) opt.give_up = parse_seconds(a, v, 0, 86400);
    else if (!strcmp(a, "--max-writes")) {
      if (parse_u64(v, &x) < 0) usage_exit("--max-writes takes a count");
      opt.max_writes = x;
    } else if (!strcmp(a, "--seed")) {
      if (parse_u64(v, &x) < 0) usage_exit("--seed takes a 64-bit number");
      opt.seed = x;
      opt.seed_set = 1;
    } else usage_exit("unknown option %.60s", a);
  }
  if (opt.n_urls == 0) usage_exit("at least one --url is required");
  if (!*opt.initiator) usage_exit("--initiator must not be empty");
  if ((opt.user == NULL) != (opt.password == NULL)) usage_exit("--user and --password go together");
  if (opt.verify_only && opt.cont) usage_exit("--verify-only and --continue exclude each other");
  if ((opt.verify_only || opt.cont) && !opt.state_file) usage_exit("--verify-only and --continue need --state FILE");
  if (opt.state_file && (!*opt.state_file || strlen(opt.state_file) > 4000)) usage_exit("bad --state path");
  if (opt.lba_start > UINT64_MAX - opt.blocks) usage_exit("--lba-start + --blocks overflow");

  /* Every URL is parsed now: a typo fails the start, not a reconnect an hour later. */
  struct iscsi_context *ctx = iscsi_create_context(opt.initiator);
  if (ctx == NULL) usage_exit("cannot create an iSCSI context (bad --initiator?)");
  for (int i = 0; i < opt.n_urls; i++) {
    struct iscsi_url *u = iscsi_parse_full_url(ctx, opt.urls[i]);
    if (u == NULL) usage_exit("bad --url %.200s: %.200s", opt.urls[i], iscsi_get_error(ctx));
    struct path *p = &paths[i];
    p->url = opt.urls[i];
    snprintf(p->portal, sizeof p->portal, "%s", u->portal);
    snprintf(p->target, sizeof p->target, "%s", u->target);
    snprintf(p->user, sizeof p->user, "%s", u->user);
    snprintf(p->passwd, sizeof p->passwd, "%s", u->passwd);
    p->lun = u->lun;
    iscsi_destroy_url(u);
  }
  iscsi_destroy_context(ctx);
}

static uint64_t random_u64(void) {
  uint64_t v = 0;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f) {
    if (fread(&v, sizeof v, 1, f) != 1) v = 0;
    fclose(f);
  }
  if (v == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    v = splitmix(&x);
  }
  return v ? v : 1;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll() wakes up */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  crc_init();
  parse_args(argc, argv);
  if (!opt.seed_set) opt.seed = random_u64() >> 11; /* below 2^53: exact in JSON readers */

  if (opt.state_file && (opt.verify_only || opt.cont)) load_state();
  uint32_t state_bs = bs;

  /* The first path that answers (each tried once: a wrong URL fails fast). */
  char errs[2048] = "";
  for (int i = 0; i < opt.n_urls && iscsi == NULL; i++) {
    if (connect_path(i, now_s() + opt.cmd_timeout) < 0) {
      size_t len = strlen(errs);
      snprintf(errs + len, sizeof errs - len, "%s%s", len ? "; " : "", fail_reason);
    }
  }
  if (iscsi == NULL) finish(2, "connect", errs);
  logf_("logged in through %s", paths[cur_path].url);

  int gave_up;
  struct scsi_task *t = run_sync(make_readcap, NULL, "READ CAPACITY(16)", &gave_up);
  struct scsi_readcapacity16 *rc = t ? scsi_datain_unmarshall(t) : NULL;
  if (rc == NULL || rc->block_length == 0) {
    if (t) scsi_free_scsi_task(t);
    finish(2, "readcap", t ? "cannot parse the READ CAPACITY(16) data" : fail_reason);
  }
  bs = rc->block_length;
  disk_blocks = rc->returned_lba + 1;
  scsi_free_scsi_task(t);
  char msg[300];
  if (bs < MIN_BLOCK_SIZE || bs > MAX_BLOCK_SIZE) {
    snprintf(msg, sizeof msg, "block size %" PRIu32 " outside %u..%u", bs, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
    finish(2, "readcap", msg);
  }
  if (opt.block_size && opt.block_size != bs) {
    snprintf(msg, sizeof msg, "block size %" PRIu32 ", not --block-size %" PRIu64, bs, opt.block_size);
    finish(2, "readcap", msg);
  }
  if (state_bs && state_bs != bs) {
    snprintf(msg, sizeof msg, "block size %" PRIu32 ", the state file's is %" PRIu32, bs, state_bs);
    finish(2, "readcap", msg);
  }
  if (opt.lba_start + opt.blocks > disk_blocks) {
    snprintf(msg, sizeof msg, "region LBA %" PRIu64 "+%" PRIu64 " beyond the disk's %" PRIu64 " blocks", opt.lba_start,
             opt.blocks, disk_blocks);
    finish(2, "readcap", msg);
  }
  if ((uint64_t)opt.qd > opt.blocks) opt.qd = (int)opt.blocks; /* one write in flight per block at most */

  if (!opt.verify_only) {
    if (!opt.cont) {
      run_id = random_u64();
      blk = xcalloc(opt.blocks, sizeof *blk);
    }
    int lost_disk = write_phase() < 0;
    if (opt.state_file && save_state() < 0) {
      snprintf(msg, sizeof msg, "cannot write the state file %s: %s", opt.state_file, strerror(errno));
      finish(3, "state", msg);
    }
    if (lost_disk) finish(3, "write", fail_reason);
  }
  if (verify_phase() < 0) finish(3, "verify", fail_reason);
  if (iscsi) {
    struct op o = {0};
    if (iscsi_logout_async(iscsi, on_op, &o) == 0) wait_op(&o, now_s() + 2, 0);
    drop_session();
  }
  finish(st.lost || st.stale ? 1 : 0, NULL, NULL);
  return 0;
}
