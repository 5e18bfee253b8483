/*
 * runtime-sim/report: a history window for a person to look at.
 *  - as text (one line per op), for the terminal;
 *  - as an HTML page with an SVG timeline in the manner of Porcupine's
 *    visualization: one lane per client, each operation a bar from its
 *    invocation to its response (indeterminate ones fade out to the right),
 *    labelled with the value written or read, the violating op in red.
 */
#ifndef ADD_SIM_REPORT_H
#define ADD_SIM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "history.h"

/* "W w17", "R zeros", ... into buf. */
void add_report_op_label(const add_hist_op *op, char *buf, size_t len);
void add_report_print_window(FILE *out, const add_history *h, const size_t *window, size_t n,
			     size_t culprit);
/* The timeline alone, as an SVG file. Returns 0 or -errno. */
int add_report_write_svg(const char *path, const add_history *h, const size_t *window, size_t n,
			 size_t culprit);
/* Returns 0 or -errno. */
/* `witness` (may be NULL) is a minimal non-linearizable subset, drawn first. */
int add_report_write_html(const char *path, const char *title, const char *why,
			  const char *replay, const add_history *h, const size_t *window,
			  size_t n, const size_t *witness, size_t n_witness, size_t culprit);

#endif /* ADD_SIM_REPORT_H */
