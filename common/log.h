/* log: the process's buffered log.
 *
 * Lines are "<UTC time> <text>\n". They collect in memory and go out in one
 * write per loop iteration (log_flush), or at once when the buffer passes a
 * high-water mark, so logging every protocol line costs one system call per
 * iteration, not one per line. Bytes from the network are escaped (\xNN for
 * anything but printable ASCII), so a log line is always one line.
 */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stddef.h>

/* Opens path for appending (created 0644); NULL means stderr. Returns 0 or
 * a negative errno. */
int log_open(const char *path);
void log_close(void);

__attribute__((format(printf, 1, 2))) void log_msg(const char *fmt, ...);
/* "<prefix><escaped bytes>" as one line. */
void log_data(const char *prefix, const char *data, size_t len);
/* "conn <id> <tag> <escaped bytes>": log_data for the protocol lines, with
 * no formatting call. */
void log_conn_data(unsigned long id, const char *tag, const char *data,
                   size_t len);
void log_flush(void);

/* Appends the escaped form of data to out (at most cap - 1 bytes, NUL
 * terminated); returns the length written. For short excerpts in messages.
 */
size_t log_escape(char *out, size_t cap, const char *data, size_t len);

#endif
