/*
 * pw-scsi: one iSCSI session held open, SCSI commands read from stdin (one per line), one JSON line
 * per command on stdout. Built on libiscsi for the reservation tests (test/helpers/scsi-session.ts).
 *
 *   pw-scsi --initiator IQN [--user U --password P] [--timeout SECONDS] iscsi://IP[:PORT]/TARGET-IQN/LUN
 *
 * The session is opened with connect + login only: unlike iscsi_full_connect_*(), which sends TEST UNIT
 * READY after login and swallows up to 10 unit attentions, the first command of the session sees what
 * the target says. Automatic reconnection is off: after a transport failure the session stays down and
 * every command answers status TRANSPORT (the caller decides when a host logs in again).
 *
 * Commands: tur | inquiry | readcap | read LBA BLOCKS | write LBA BLOCKS BYTE | reserve6 | release6 |
 *   prout-register KEY | prout-register-ignore KEY | prout-unregister KEY | prout-reserve KEY TYPE |
 *   prout-release KEY TYPE | prout-clear KEY | prout-preempt KEY SAKEY TYPE | prin-keys |
 *   prin-reservation | lun-reset | target-reset | quit
 *   numbers: decimal or 0x-hex; TYPE: we ea we_ro ea_ro we_ar ea_ar
 * Output: {"cmd":...,"ok":bool,"status":"GOOD"|"CHECK_CONDITION"|"RESERVATION_CONFLICT"|...|"TRANSPORT"|"USAGE",
 *   "sense":{"key","asc","ascq","ascq_text"} on CHECK CONDITION, "error" on TRANSPORT/USAGE, plus results}.
 * Exit: 0 after quit or end of input, 2 when the connection or login fails (one {"cmd":"connect"} line).
 */
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

#define MAX_LINE 4096
#define MAX_XFER (8u * 1024u * 1024u) /* bytes per read/write command */
#define MAX_ARGS 8

static struct iscsi_context *iscsi;
static int lun;
static int timeout_s = 30;
static int dead;             /* the session is down: no more commands reach the target */
static char dead_reason[1024];
static uint32_t block_size;  /* from READ CAPACITY(16), read lazily */
static uint64_t num_blocks;

/* ---- JSON output ------------------------------------------------------------------------------ */

static void json_str(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p == '\n') fputs("\\n", stdout);
    else if (*p < 0x20 || *p >= 0x7f) printf("\\u%04x", *p); /* bytes outside ASCII: kept, escaped */
    else putchar(*p);
  }
  putchar('"');
}

/* Starts a response: {"cmd":CMD,"ok":OK,"status":STATUS — the caller adds fields and calls end(). */
static void begin(const char *cmd, int ok, const char *status) {
  fputs("{\"cmd\":", stdout);
  json_str(cmd);
  printf(",\"ok\":%s,\"status\":\"%s\"", ok ? "true" : "false", status);
}

static void end(void) {
  fputs("}\n", stdout);
  if (fflush(stdout) != 0) exit(1); /* the reader is gone */
}

static void field_str(const char *name, const char *value) {
  printf(",\"%s\":", name);
  json_str(value);
}

static void fail(const char *cmd, const char *status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  begin(cmd, 0, status);
  field_str("error", msg);
  end();
}

static void set_dead(const char *why) {
  if (dead) return;
  dead = 1;
  snprintf(dead_reason, sizeof dead_reason, "%s", why && *why ? why : "connection lost");
  for (size_t n = strlen(dead_reason); n > 0 && (dead_reason[n - 1] == '\n' || dead_reason[n - 1] == ' '); n--)
    dead_reason[n - 1] = '\0';
}

/* ---- waiting for libiscsi --------------------------------------------------------------------- */

struct wait {
  int done;
  int status;
  void *data;
  char err[512]; /* libiscsi's error when the callback reported a failure (later calls overwrite it) */
};
static struct wait W; /* static: a late callback (after a timeout) never writes to a dead stack frame */

static void on_done(struct iscsi_context *ctx, int status, void *command_data, void *private_data) {
  (void)ctx;
  struct wait *w = private_data;
  w->done = 1;
  w->status = status;
  w->data = command_data;
  if (status != SCSI_STATUS_GOOD) snprintf(w->err, sizeof w->err, "%s", iscsi_get_error(ctx));
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs libiscsi's event loop until W is done. 0: done; -1: transport failure or timeout (session dead). */
static int wait_done(void) {
  double deadline = now_s() + timeout_s;
  while (!W.done) {
    double left = deadline - now_s();
    if (left <= 0) {
      char why[64];
      snprintf(why, sizeof why, "no answer within %d s", timeout_s);
      set_dead(why);
      return -1;
    }
    struct pollfd pfd = {.fd = iscsi_get_fd(iscsi), .events = (short)iscsi_which_events(iscsi)};
    int ms = left > 1.0 ? 1000 : (int)(left * 1000) + 1;
    int n;
    if (pfd.fd < 0 || pfd.events == 0) {
      n = poll(NULL, 0, ms < 100 ? ms : 100);
      pfd.revents = 0;
    } else {
      n = poll(&pfd, 1, ms);
    }
    if (n < 0 && errno != EINTR) {
      set_dead(strerror(errno));
      return -1;
    }
    if (iscsi_service(iscsi, n > 0 ? pfd.revents : 0) < 0) {
      set_dead(W.done && W.err[0] ? W.err : iscsi_get_error(iscsi));
      return W.done ? 0 : -1;
    }
  }
  return 0;
}

/* ---- SCSI status and sense -------------------------------------------------------------------- */

static const char *status_name(int status) {
  switch (status) {
  case SCSI_STATUS_GOOD: return "GOOD";
  case SCSI_STATUS_CHECK_CONDITION: return "CHECK_CONDITION";
  case SCSI_STATUS_CONDITION_MET: return "CONDITION_MET";
  case SCSI_STATUS_BUSY: return "BUSY";
  case SCSI_STATUS_RESERVATION_CONFLICT: return "RESERVATION_CONFLICT";
  case SCSI_STATUS_TASK_SET_FULL: return "TASK_SET_FULL";
  case SCSI_STATUS_ACA_ACTIVE: return "ACA_ACTIVE";
  case SCSI_STATUS_TASK_ABORTED: return "TASK_ABORTED";
  default: return NULL; /* CANCELLED, ERROR, TIMEOUT: not an answer from the target */
  }
}

static const char *sense_key_name(int key) {
  static const char *names[] = {"NO_SENSE",        "RECOVERED_ERROR", "NOT_READY",       "MEDIUM_ERROR",
                                "HARDWARE_ERROR",  "ILLEGAL_REQUEST", "UNIT_ATTENTION",  "DATA_PROTECT",
                                "BLANK_CHECK",     "VENDOR_SPECIFIC", "COPY_ABORTED",    "ABORTED_COMMAND",
                                "OBSOLETE",        "VOLUME_OVERFLOW", "MISCOMPARE",      "RESERVED"};
  return key >= 0 && key < 16 ? names[key] : "UNKNOWN";
}

/*
 * Sends a prepared task (created by one of libiscsi's *_task() functions with on_done/&W) and waits.
 * Returns the finished task when the target answered GOOD/CONDITION MET. Otherwise it prints the
 * response (SCSI error, or TRANSPORT) itself, frees the task and returns NULL. `during` names an
 * implicit command (the lazy READ CAPACITY) in the response.
 */
static struct scsi_task *finish(const char *cmd, struct scsi_task *task, const char *during) {
  if (task == NULL) {
    if (!iscsi_is_logged_in(iscsi)) set_dead(iscsi_get_error(iscsi));
    fail(cmd, "TRANSPORT", "%s", iscsi_get_error(iscsi));
    return NULL;
  }
  if (wait_done() < 0) {
    fail(cmd, "TRANSPORT", "%s", dead_reason); /* the task may still be referenced by libiscsi: leaked */
    return NULL;
  }
  const char *name = status_name(W.status);
  if (name == NULL) {
    /* CANCELLED comes from libiscsi dropping the session (no auto reconnect): it is down now. */
    const char *err = W.err[0] ? W.err : iscsi_get_error(iscsi);
    char msg[700];
    snprintf(msg, sizeof msg, "%s%s", W.status == SCSI_STATUS_CANCELLED ? "cancelled: " : "", err && *err ? err : "command failed");
    if (W.status == SCSI_STATUS_CANCELLED) set_dead(msg);
    fail(cmd, "TRANSPORT", "%s", msg);
    if (W.data) scsi_free_scsi_task(W.data);
    return NULL;
  }
  if (W.status == SCSI_STATUS_GOOD || W.status == SCSI_STATUS_CONDITION_MET) return task;
  begin(cmd, 0, name);
  if (during) field_str("during", during);
  if (W.status == SCSI_STATUS_CHECK_CONDITION) {
    const char *text = scsi_sense_ascq_str(task->sense.ascq);
    printf(",\"sense\":{\"key\":\"%s\",\"asc\":%d,\"ascq\":%d,\"ascq_text\":", sense_key_name(task->sense.key),
           (task->sense.ascq >> 8) & 0xff, task->sense.ascq & 0xff);
    json_str(text ? text : "");
    putchar('}');
  }
  end();
  scsi_free_scsi_task(task);
  return NULL;
}

#define START() (memset(&W, 0, sizeof W))

/* ---- input parsing ---------------------------------------------------------------------------- */

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

static int parse_type(const char *s, int *out) {
  static const struct {
    const char *name;
    int type;
  } types[] = {
      {"we", SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE},
      {"ea", SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS},
      {"we_ro", SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_REGISTRANTS_ONLY},
      {"ea_ro", SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS_REGISTRANTS_ONLY},
      {"we_ar", SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE_ALL_REGISTRANTS},
      {"ea_ar", SCSI_PERSISTENT_RESERVE_TYPE_EXCLUSIVE_ACCESS_ALL_REGISTRANTS},
  };
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    if (strcmp(s, types[i].name) == 0) {
      *out = types[i].type;
      return 0;
    }
  }
  return -1;
}

static const char *type_name(int type) {
  switch (type) {
  case 1: return "we";
  case 3: return "ea";
  case 5: return "we_ro";
  case 6: return "ea_ro";
  case 7: return "we_ar";
  case 8: return "ea_ar";
  default: return "unknown";
  }
}

/* ---- commands --------------------------------------------------------------------------------- */

static void cmd_tur(void) {
  START();
  struct scsi_task *t = finish("tur", iscsi_testunitready_task(iscsi, lun, on_done, &W), NULL);
  if (!t) return;
  begin("tur", 1, "GOOD");
  end();
  scsi_free_scsi_task(t);
}

/* Copies src without leading and trailing spaces (SCSI pads ASCII fields with them). */
static void trim_copy(char *dst, size_t n, const char *src) {
  while (*src == ' ') src++;
  snprintf(dst, n, "%s", src);
  for (size_t len = strlen(dst); len > 0 && dst[len - 1] == ' '; len--) dst[len - 1] = '\0';
}

static void cmd_inquiry(void) {
  START();
  struct scsi_task *t = finish("inquiry", iscsi_inquiry_task(iscsi, lun, 0, 0, 255, on_done, &W), NULL);
  if (!t) return;
  struct scsi_inquiry_standard *inq = scsi_datain_unmarshall(t);
  if (inq == NULL) {
    fail("inquiry", "TRANSPORT", "cannot parse the INQUIRY data");
    scsi_free_scsi_task(t);
    return;
  }
  char vendor[16], product[24];
  trim_copy(vendor, sizeof vendor, inq->vendor_identification);
  trim_copy(product, sizeof product, inq->product_identification);
  int device_type = inq->device_type;
  scsi_free_scsi_task(t);

  /* Unit serial number page (0x80): a failure here leaves "serial" out, the INQUIRY itself succeeded. */
  char serial[256] = "";
  int have_serial = 0;
  START();
  struct scsi_task *s = iscsi_inquiry_task(iscsi, lun, 1, SCSI_INQUIRY_PAGECODE_UNIT_SERIAL_NUMBER, 255, on_done, &W);
  if (s && wait_done() == 0 && W.status == SCSI_STATUS_GOOD) {
    struct scsi_inquiry_unit_serial_number *usn = scsi_datain_unmarshall(s);
    if (usn && usn->usn) {
      trim_copy(serial, sizeof serial, usn->usn);
      have_serial = 1;
    }
  }
  if (s && W.done) scsi_free_scsi_task(s);

  begin("inquiry", 1, "GOOD");
  field_str("vendor", vendor);
  field_str("product", product);
  printf(",\"device_type\":%d", device_type);
  if (have_serial) field_str("serial", serial);
  end();
}

/* READ CAPACITY(16) into block_size/num_blocks. 0 when known; else the response is printed already. */
static int readcap(const char *cmd, const char *during) {
  START();
  struct scsi_task *t = finish(cmd, iscsi_readcapacity16_task(iscsi, lun, on_done, &W), during);
  if (!t) return -1;
  struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
  if (rc == NULL || rc->block_length == 0) {
    fail(cmd, "TRANSPORT", "cannot parse the READ CAPACITY(16) data");
    scsi_free_scsi_task(t);
    return -1;
  }
  block_size = rc->block_length;
  num_blocks = rc->returned_lba + 1;
  scsi_free_scsi_task(t);
  return 0;
}

static void cmd_readcap(void) {
  if (readcap("readcap", NULL) < 0) return;
  begin("readcap", 1, "GOOD");
  printf(",\"block_size\":%" PRIu32 ",\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64, block_size, num_blocks,
         num_blocks * block_size);
  end();
}

/* CRC-32 (IEEE, as zlib's crc32()). */
static uint32_t crc32_ieee(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  while (n--) {
    c ^= *p++;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return c ^ 0xffffffffu;
}

/* Validates LBA and BLOCKS against the transfer limit; reads the block size first if needed. */
static int io_args(const char *cmd, const char *a_lba, const char *a_blocks, uint64_t *lba, uint32_t *len) {
  uint64_t blocks;
  if (parse_u64(a_lba, lba) < 0 || parse_u64(a_blocks, &blocks) < 0 || blocks == 0) {
    fail(cmd, "USAGE", "LBA and BLOCKS must be numbers (decimal or 0x-hex), BLOCKS at least 1");
    return -1;
  }
  if (block_size == 0 && readcap(cmd, "readcap") < 0) return -1;
  if (blocks > MAX_XFER / block_size) {
    fail(cmd, "USAGE", "at most %u bytes per command (%u blocks of %u)", MAX_XFER, MAX_XFER / block_size, block_size);
    return -1;
  }
  *len = (uint32_t)blocks * block_size;
  return 0;
}

static void cmd_read(char **argv) {
  uint64_t lba;
  uint32_t len;
  if (io_args("read", argv[1], argv[2], &lba, &len) < 0) return;
  START();
  struct scsi_task *t = finish("read", iscsi_read16_task(iscsi, lun, lba, len, (int)block_size, 0, 0, 0, 0, 0, on_done, &W), NULL);
  if (!t) return;
  if (t->datain.size != (int)len) {
    fail("read", "TRANSPORT", "short read: %d of %u bytes", t->datain.size, len);
    scsi_free_scsi_task(t);
    return;
  }
  char head[33];
  for (int i = 0; i < 16 && i < t->datain.size; i++) snprintf(head + 2 * i, 3, "%02x", t->datain.data[i]);
  begin("read", 1, "GOOD");
  printf(",\"lba\":%" PRIu64 ",\"bytes\":%u,\"head\":\"%s\",\"crc32\":\"%08" PRIx32 "\"", lba, len, head,
         crc32_ieee(t->datain.data, len));
  end();
  scsi_free_scsi_task(t);
}

static void cmd_write(char **argv) {
  uint64_t lba, byte;
  uint32_t len;
  if (parse_u64(argv[3], &byte) < 0 || byte > 255) {
    fail("write", "USAGE", "BYTE must be 0..255 (decimal or 0x-hex)");
    return;
  }
  if (io_args("write", argv[1], argv[2], &lba, &len) < 0) return;
  unsigned char *buf = malloc(len);
  if (buf == NULL) {
    fail("write", "USAGE", "out of memory");
    return;
  }
  memset(buf, (int)byte, len);
  uint32_t crc = crc32_ieee(buf, len);
  START();
  struct scsi_task *t =
      finish("write", iscsi_write16_task(iscsi, lun, lba, buf, len, (int)block_size, 0, 0, 0, 0, 0, on_done, &W), NULL);
  if (!dead) free(buf); /* after a timeout libiscsi may still hold it */
  if (!t) return;
  begin("write", 1, "GOOD");
  printf(",\"lba\":%" PRIu64 ",\"bytes\":%u,\"crc32\":\"%08" PRIx32 "\"", lba, len, crc);
  end();
  scsi_free_scsi_task(t);
}

static void cmd_simple(const char *cmd, struct scsi_task *(*make)(struct iscsi_context *, int, iscsi_command_cb, void *)) {
  START();
  struct scsi_task *t = finish(cmd, make(iscsi, lun, on_done, &W), NULL);
  if (!t) return;
  begin(cmd, 1, "GOOD");
  end();
  scsi_free_scsi_task(t);
}

static void cmd_prout(const char *cmd, int sa, uint64_t key, uint64_t sakey, int type) {
  struct scsi_persistent_reserve_out_basic params = {.reservation_key = key, .service_action_reservation_key = sakey};
  START();
  struct scsi_task *t = finish(cmd,
                               iscsi_persistent_reserve_out_task(iscsi, lun, sa, SCSI_PERSISTENT_RESERVE_SCOPE_LU, type,
                                                                 &params, on_done, &W),
                               NULL);
  if (!t) return;
  begin(cmd, 1, "GOOD");
  end();
  scsi_free_scsi_task(t);
}

static void cmd_prin(const char *cmd, int sa) {
  START();
  struct scsi_task *t = finish(cmd, iscsi_persistent_reserve_in_task(iscsi, lun, sa, 8192, on_done, &W), NULL);
  if (!t) return;
  void *data = scsi_datain_unmarshall(t);
  if (data == NULL) {
    fail(cmd, "TRANSPORT", "cannot parse the PERSISTENT RESERVE IN data");
    scsi_free_scsi_task(t);
    return;
  }
  begin(cmd, 1, "GOOD");
  if (sa == SCSI_PERSISTENT_RESERVE_READ_KEYS) {
    struct scsi_persistent_reserve_in_read_keys *rk = data;
    printf(",\"generation\":%" PRIu32 ",\"keys\":[", rk->prgeneration);
    for (int i = 0; i < rk->num_keys; i++) printf("%s\"0x%" PRIx64 "\"", i ? "," : "", rk->keys[i]);
    putchar(']');
  } else {
    struct scsi_persistent_reserve_in_read_reservation *rr = data;
    printf(",\"generation\":%" PRIu32 ",\"reserved\":%s", rr->prgeneration, rr->reserved ? "true" : "false");
    if (rr->reserved) printf(",\"key\":\"0x%" PRIx64 "\",\"type\":\"%s\"", rr->reservation_key, type_name(rr->pr_type & 0x0f));
  }
  end();
  scsi_free_scsi_task(t);
}

static void cmd_tmf(const char *cmd, int target) {
  START();
  int rc = target ? iscsi_task_mgmt_target_warm_reset_async(iscsi, on_done, &W)
                  : iscsi_task_mgmt_lun_reset_async(iscsi, (uint32_t)lun, on_done, &W);
  if (rc != 0) {
    if (!iscsi_is_logged_in(iscsi)) set_dead(iscsi_get_error(iscsi));
    fail(cmd, "TRANSPORT", "%s", iscsi_get_error(iscsi));
    return;
  }
  if (wait_done() < 0) {
    fail(cmd, "TRANSPORT", "%s", dead_reason);
    return;
  }
  if (W.status != SCSI_STATUS_GOOD) {
    const char *err = W.err[0] ? W.err : iscsi_get_error(iscsi);
    if (W.status == SCSI_STATUS_CANCELLED) set_dead(err);
    fail(cmd, "TRANSPORT", "%s", err);
    return;
  }
  /* command_data: the TMF response code (0 = function complete). */
  uint32_t response = W.data ? *(uint32_t *)W.data : 0;
  begin(cmd, response == 0, response == 0 ? "GOOD" : "TMF_REJECTED");
  printf(",\"response\":%" PRIu32, response);
  end();
  if (response == 0) block_size = 0; /* nothing cached survives a reset */
}

/* ---- the command loop ------------------------------------------------------------------------- */

struct command {
  const char *name;
  int nargs;
  const char *usage;
};

static const struct command commands[] = {
    {"tur", 0, "tur"},
    {"inquiry", 0, "inquiry"},
    {"readcap", 0, "readcap"},
    {"read", 2, "read LBA BLOCKS"},
    {"write", 3, "write LBA BLOCKS BYTE"},
    {"reserve6", 0, "reserve6"},
    {"release6", 0, "release6"},
    {"prout-register", 1, "prout-register KEY"},
    {"prout-register-ignore", 1, "prout-register-ignore KEY"},
    {"prout-unregister", 1, "prout-unregister KEY"},
    {"prout-reserve", 2, "prout-reserve KEY TYPE"},
    {"prout-release", 2, "prout-release KEY TYPE"},
    {"prout-clear", 1, "prout-clear KEY"},
    {"prout-preempt", 3, "prout-preempt KEY SAKEY TYPE"},
    {"prin-keys", 0, "prin-keys"},
    {"prin-reservation", 0, "prin-reservation"},
    {"lun-reset", 0, "lun-reset"},
    {"target-reset", 0, "target-reset"},
    {"quit", 0, "quit"},
};

/* Runs one input line. Returns 1 on quit. */
static int handle(char *line) {
  char *argv[MAX_ARGS + 1];
  int argc = 0;
  for (char *tok = strtok(line, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
    if (argc == MAX_ARGS) {
      fail("", "USAGE", "too many words");
      return 0;
    }
    argv[argc++] = tok;
  }
  if (argc == 0) return 0; /* blank line: no answer */
  const struct command *c = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[0], commands[i].name) == 0) c = &commands[i];
  if (c == NULL) {
    char name[64];
    snprintf(name, sizeof name, "%s", argv[0]);
    fail(name, "USAGE", "unknown command");
    return 0;
  }
  if (argc - 1 != c->nargs) {
    fail(c->name, "USAGE", "usage: %s", c->usage);
    return 0;
  }
  if (strcmp(c->name, "quit") == 0) {
    begin("quit", 1, "GOOD");
    end();
    return 1;
  }
  if (dead) {
    fail(c->name, "TRANSPORT", "session is down: %s", dead_reason);
    return 0;
  }

  uint64_t key = 0, sakey = 0;
  int type = 0;
  if (strncmp(c->name, "prout-", 6) == 0) {
    if (parse_u64(argv[1], &key) < 0 || (c->nargs == 3 && parse_u64(argv[2], &sakey) < 0)) {
      fail(c->name, "USAGE", "keys are 64-bit numbers (decimal or 0x-hex); usage: %s", c->usage);
      return 0;
    }
    const char *t = c->nargs >= 2 ? argv[c->nargs] : NULL;
    if (t && parse_type(t, &type) < 0) {
      fail(c->name, "USAGE", "TYPE is one of we, ea, we_ro, ea_ro, we_ar, ea_ar");
      return 0;
    }
  }

  const char *n = c->name;
  if (!strcmp(n, "tur")) cmd_tur();
  else if (!strcmp(n, "inquiry")) cmd_inquiry();
  else if (!strcmp(n, "readcap")) cmd_readcap();
  else if (!strcmp(n, "read")) cmd_read(argv);
  else if (!strcmp(n, "write")) cmd_write(argv);
  else if (!strcmp(n, "reserve6")) cmd_simple(n, iscsi_reserve6_task);
  else if (!strcmp(n, "release6")) cmd_simple(n, iscsi_release6_task);
  /* REGISTER with reservation key 0: a new registration of KEY (service action reservation key). */
  else if (!strcmp(n, "prout-register")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_REGISTER, 0, key, 0);
  else if (!strcmp(n, "prout-register-ignore")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, key, 0);
  /* REGISTER with the current key and service action key 0: unregisters. */
  else if (!strcmp(n, "prout-unregister")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_REGISTER, key, 0, 0);
  else if (!strcmp(n, "prout-reserve")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_RESERVE, key, 0, type);
  else if (!strcmp(n, "prout-release")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_RELEASE, key, 0, type);
  else if (!strcmp(n, "prout-clear")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_CLEAR, key, 0, 0);
  else if (!strcmp(n, "prout-preempt")) cmd_prout(n, SCSI_PERSISTENT_RESERVE_PREEMPT, key, sakey, type);
  else if (!strcmp(n, "prin-keys")) cmd_prin(n, SCSI_PERSISTENT_RESERVE_READ_KEYS);
  else if (!strcmp(n, "prin-reservation")) cmd_prin(n, SCSI_PERSISTENT_RESERVE_READ_RESERVATION);
  else if (!strcmp(n, "lun-reset")) cmd_tmf(n, 0);
  else if (!strcmp(n, "target-reset")) cmd_tmf(n, 1);
  return 0;
}

/*
 * Reads stdin line by line while keeping the session serviced (NOP-Ins answered, a closed connection
 * noticed). Returns at end of input or after quit.
 */
static void command_loop(void) {
  static char buf[MAX_LINE + 1];
  size_t used = 0;
  int skipping = 0; /* discarding the rest of an over-long line */
  for (;;) {
    struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = -1}};
    if (!dead) {
      pfd[1].fd = iscsi_get_fd(iscsi);
      pfd[1].events = (short)iscsi_which_events(iscsi);
      if (pfd[1].events == 0) pfd[1].fd = -1;
    }
    int n = poll(pfd, 2, 1000);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (!dead) {
      /* Between commands nothing is in flight: a failure here is the connection going away. */
      short rev = pfd[1].fd >= 0 ? pfd[1].revents : 0;
      if (iscsi_service(iscsi, rev) < 0 || (rev & (POLLHUP | POLLERR))) {
        char why[700];
        snprintf(why, sizeof why, "connection lost between commands (libiscsi: %s)", iscsi_get_error(iscsi));
        set_dead(why);
      }
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP))) continue;
    ssize_t got = read(0, buf + used, MAX_LINE - used);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    if (got == 0) return; /* end of input (an unterminated last line is ignored) */
    used += (size_t)got;
    char *start = buf;
    char *nl;
    while ((nl = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
      *nl = '\0';
      if (skipping) {
        skipping = 0;
      } else if (memchr(start, '\0', (size_t)(nl - start)) != NULL) {
        fail("", "USAGE", "NUL byte in the line");
      } else if (handle(start)) {
        return;
      }
      start = nl + 1;
    }
    used -= (size_t)(start - buf);
    memmove(buf, start, used);
    if (used == MAX_LINE) {
      if (!skipping) fail("", "USAGE", "line longer than %d bytes", MAX_LINE);
      skipping = 1;
      used = 0;
    }
  }
}

/* ---- start ------------------------------------------------------------------------------------ */

static void usage_exit(const char *msg) {
  fprintf(stderr,
          "pw-scsi: %s\nusage: pw-scsi --initiator IQN [--user U --password P] [--timeout SECONDS] "
          "iscsi://IP[:PORT]/TARGET-IQN/LUN\n",
          msg);
  exit(64);
}

static void connect_fail(const char *stage) {
  begin("connect", 0, "TRANSPORT");
  field_str("stage", stage);
  field_str("error", W.err[0] ? W.err : *dead_reason ? dead_reason : iscsi_get_error(iscsi));
  end();
  exit(2);
}

int main(int argc, char **argv) {
  const char *initiator = NULL, *user = NULL, *password = NULL, *url_text = NULL;
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') {
      if (url_text) usage_exit("one URL only");
      url_text = a;
      continue;
    }
    if (i + 1 >= argc) usage_exit("an option without its value");
    const char *v = argv[++i];
    if (!strcmp(a, "--initiator")) initiator = v;
    else if (!strcmp(a, "--user")) user = v;
    else if (!strcmp(a, "--password")) password = v;
    else if (!strcmp(a, "--timeout")) {
      uint64_t t;
      if (parse_u64(v, &t) < 0 || t < 1 || t > 3600) usage_exit("--timeout takes 1..3600 seconds");
      timeout_s = (int)t;
    } else usage_exit("unknown option");
  }
  if (!initiator || !*initiator) usage_exit("--initiator is required");
  if (!url_text) usage_exit("the iscsi:// URL is required");
  if ((user == NULL) != (password == NULL)) usage_exit("--user and --password go together");

  iscsi = iscsi_create_context(initiator);
  if (iscsi == NULL) usage_exit("cannot create the iSCSI context (bad initiator name?)");
  struct iscsi_url *url = iscsi_parse_full_url(iscsi, url_text);
  if (url == NULL) {
    begin("connect", 0, "USAGE");
    field_str("error", iscsi_get_error(iscsi));
    end();
    exit(2);
  }
  lun = url->lun;
  if (iscsi_set_targetname(iscsi, url->target) != 0 || iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL) != 0)
    connect_fail("setup");
  if (user) {
    if (iscsi_set_initiator_username_pwd(iscsi, user, password) != 0) connect_fail("chap");
  } else if (url->user[0]) {
    if (iscsi_set_initiator_username_pwd(iscsi, url->user, url->passwd) != 0) connect_fail("chap");
  }
  iscsi_set_noautoreconnect(iscsi, 1);

  /* connect + login (the asynchronous forms of iscsi_connect_sync/iscsi_login_sync, with a deadline);
     deliberately not iscsi_full_connect_*, whose TEST UNIT READYs would swallow the unit attentions. */
  START();
  if (iscsi_connect_async(iscsi, url->portal, on_done, &W) != 0 || wait_done() < 0 || W.status != SCSI_STATUS_GOOD)
    connect_fail("connect");
  START();
  if (iscsi_login_async(iscsi, on_done, &W) != 0 || wait_done() < 0 || W.status != SCSI_STATUS_GOOD)
    connect_fail("login");
  iscsi_destroy_url(url);

  begin("connect", 1, "GOOD");
  end();
  command_loop();
  if (!dead && iscsi_is_logged_in(iscsi)) {
    START();
    if (iscsi_logout_async(iscsi, on_done, &W) == 0) {
      timeout_s = 5;
      wait_done();
    }
  }
  iscsi_destroy_context(iscsi);
  return 0;
}
