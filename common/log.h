/* log: the process's buffered log.
 *
 * Lines are "<UTC time> <text>\n". They collect in memory and go out in one
 * write per loop iteration (log_flush), or at once when the buffer passes a
 * high-water mark, so logging every protocol line costs one system call per
 * iteration, not one per line. Bytes from the network are escaped (\xNN for
 * anything but printable ASCII), so a log line is always one line, and cut:
 * log_data keeps at most LOG_EXCERPT_MAX bytes of escaped text, log_conn_data
 * at most LOG_LINE_MAX, then "... (N bytes)" with the length of the data.
 * A logged line thus costs at most a fixed size, whatever arrives.
 *
 * The file is private and bounded: opened without following a symbolic
 * link, created mode 0600 (an existing one is made 0600), and before a
 * write would carry it past log_set_max_bytes it is renamed to FILE.1
 * (replacing an older .1) and a new FILE is started, so the two hold at
 * most twice the cap (a single write larger than the cap, at most one
 * buffer, goes whole into a new file). The size is counted in memory from
 * an fstat at open, not asked of the file system at every write.
 */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stddef.h>
#include <stdint.h>

/* Escaped bytes of one excerpt of data (log_data), and of one protocol
 * line (log_conn_data), before the cut. */
#define LOG_EXCERPT_MAX 256
#define LOG_LINE_MAX    512

/* Opens path for appending (O_NOFOLLOW: a symbolic link is refused with
 * ELOOP; created 0600, an existing file of ours made 0600); NULL means
 * stderr. Returns 0 or a negative errno. */
int log_open(const char *path);
/* The size past which the file is rotated to FILE.1; 0 (the default):
 * never. Only a regular file given to log_open is rotated. */
void log_set_max_bytes(uint64_t max);
void log_close(void);

__attribute__((format(printf, 1, 2))) void log_msg(const char *fmt, ...);
/* "<prefix><escaped bytes>" as one line (cut at LOG_EXCERPT_MAX). */
void log_data(const char *prefix, const char *data, size_t len);
/* "conn <id> <tag> <escaped bytes>": log_data for the protocol lines, with
 * no formatting call (cut at LOG_LINE_MAX). */
void log_conn_data(unsigned long id, const char *tag, const char *data,
                   size_t len);
void log_flush(void);

/* Appends the escaped form of data to out (at most cap - 1 bytes, NUL
 * terminated); returns the length written. For short excerpts in messages.
 */
size_t log_escape(char *out, size_t cap, const char *data, size_t len);

#endif
