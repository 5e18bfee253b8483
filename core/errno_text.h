/*
 * core/errno_text: strerror-like text for the errno values storage code
 * reports (the core may not call strerror: scripts/check-core-purity.sh).
 * Texts are glibc's; an errno not in the table reads "errno N".
 */
#ifndef ADD_ERRNO_TEXT_H
#define ADD_ERRNO_TEXT_H

/* `e` positive or negative; `buf` (>= 24 bytes) is used only for the
 * "errno N" fallback; returns a static string or buf. */
const char *add_errno_text(int e, char *buf, unsigned buf_len);

#endif /* ADD_ERRNO_TEXT_H */
