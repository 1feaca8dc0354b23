/* random: bytes from the system's CSPRNG (getrandom), for nonces, the
 * epoch, keys and the herd secret. */
#ifndef HERD_RANDOM_H
#define HERD_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with n random bytes. Returns 0, or -errno when the system
 * has none to give (then nothing that needs them may go on). */
__attribute__((warn_unused_result)) int random_bytes(void *buf, size_t n);

#endif
