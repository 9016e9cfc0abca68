/* c-ticker: a compiled realtime bot for the0. Reads its tick count from $STATE_DIR/c-ticker.json,
 * adds one per tick, writes it back (write to a temp file, then rename), prints one `_metric` JSON
 * line per tick on stdout (timestamp in epoch ms, as the compiled SDKs do) and JSON log lines on
 * stderr. SIGTERM ends it cleanly with exit 0. `interval_ms` comes from BOT_CONFIG. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;
static void on_term(int sig) { (void)sig; stop_requested = 1; }

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_line(const char *level, const char *message, long long tick) {
  fprintf(stderr, "{\"level\":\"%s\",\"message\":\"%s\",\"tick\":%lld,\"timestamp\":%lld}\n", level, message, tick,
          now_ms());
  fflush(stderr);
}

/* The number after "ticks": in the state document, 0 when there is none. */
static long long read_ticks(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char buf[256] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strstr(buf, "\"ticks\":");
  return p ? atoll(p + 8) : 0;
}

static int write_ticks(const char *path, long long ticks) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  fprintf(f, "{\"ticks\":%lld,\"updated_ms\":%lld}", ticks, now_ms());
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

/* "interval_ms": N in BOT_CONFIG, else 1000. */
static long interval_ms(void) {
  const char *cfg = getenv("BOT_CONFIG");
  const char *p = cfg ? strstr(cfg, "\"interval_ms\":") : NULL;
  long v = p ? atol(p + 14) : 1000;
  return v > 0 ? v : 1000;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  const char *dir = getenv("STATE_DIR");
  if (!dir || !*dir) dir = "/state/.the0-state";
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    log_line("error", "cannot create STATE_DIR", 0);
    return 1;
  }
  char path[4000];
  snprintf(path, sizeof path, "%s/c-ticker.json", dir);
  long long ticks = read_ticks(path);
  log_line("info", ticks ? "resuming" : "first start", ticks);
  long ms = interval_ms();
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
  while (!stop_requested) {
    ticks++;
    if (write_ticks(path, ticks) != 0) log_line("warn", "cannot write state", ticks);
    printf("{\"_metric\":\"tick\",\"value\":%lld,\"timestamp\":%lld}\n", ticks, now_ms());
    fflush(stdout);
    nanosleep(&pause, NULL);
  }
  log_line("info", "stopping", ticks);
  return 0;
}
