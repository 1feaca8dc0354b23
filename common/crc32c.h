/* crc32c: CRC-32C (Castagnoli), the checksum of the write-ahead log's
 * frames.
 *
 * With SSE4.2 (checked once at run time) it is the CPU's crc32 instruction,
 * eight bytes a step: about 30 ns for a 110-byte record, against about
 * 240 ns for zlib's CRC-32 on the same machine, and every record is
 * checksummed by every server it reaches. Elsewhere, a table.
 */
#ifndef HERD_CRC32C_H
#define HERD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data: crc32c("123456789", 9) == 0xe3069283. */
uint32_t crc32c(const void *data, size_t len);

/* The table version, whatever the CPU has (for tests). */
uint32_t crc32c_portable(const void *data, size_t len);

#endif
