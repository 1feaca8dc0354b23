/* Error context for functions that read files a person wrote. */
#ifndef HERD_ERRORS_H
#define HERD_ERRORS_H

struct herd_error {
    int line;       /* 1-based line of the input, 0 when not about a line */
    char text[256]; /* one sentence, no trailing newline */
};

#endif
