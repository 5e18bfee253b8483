/* runtime-sim/report: text and HTML/SVG views of a history window. See
 * report.h. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void value_str(uint64_t v, char *buf, size_t len)
{
	if (v == ADD_VALUE_INITIAL)
		snprintf(buf, len, "zeros");
	else if (v == ADD_VALUE_GARBAGE)
		snprintf(buf, len, "garbage");
	else
		snprintf(buf, len, "w%" PRIu64, v);
}

void add_report_op_label(const add_hist_op *op, char *buf, size_t len)
{
	char v[32];
	value_str(op->value, v, sizeof(v));
	if (op->kind == ADD_OP_READ && !add_hist_op_done(op))
		snprintf(buf, len, "R ?");
	else
		snprintf(buf, len, "%s %s", op->kind == ADD_OP_WRITE ? "W" : "R", v);
}

static void time_str(uint64_t t, char *buf, size_t len)
{
	if (t == ADD_TIME_NEVER)
		snprintf(buf, len, "%12s", "never");
	else
		snprintf(buf, len, "%12.3f", t / 1e6);
}

void add_report_print_window(FILE *out, const add_history *h, const size_t *window, size_t n,
			     size_t culprit)
{
	fprintf(out, "  %-3s %6s %4s %-16s %12s %12s  %s\n", "", "client", "node", "op",
		"invoke ms", "response ms", "note");
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *op = &h->ops[window[i]];
		char label[48], a[24], b[24];
		add_report_op_label(op, label, sizeof(label));
		time_str(op->invoke_ns, a, sizeof(a));
		time_str(op->response_ns, b, sizeof(b));
		const char *note = window[i] == culprit		  ? "<-- violation"
				   : op->flags & ADD_OPF_FINAL	  ? "final read"
				   : !add_hist_op_done(op)	  ? "indeterminate"
								  : "";
		fprintf(out, "  %-3s %6u %4u %-16s %s %s  %s\n", window[i] == culprit ? "!!" : "",
			op->client, op->node, label, a, b, note);
	}
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

typedef struct placed {
	size_t lane; /* index into the sorted client list */
	size_t row;  /* sub-row within the lane */
	double x0, x1;
} placed;

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The SVG timeline alone (also embedded in the HTML page). */
static void write_svg(FILE *f, const add_history *h, const size_t *window, size_t n,
		      size_t culprit)
{
	/* Time range and lanes (one per client of the window, sorted). */
	uint64_t t0 = UINT64_MAX, t1 = 0;
	uint32_t lanes[256];
	size_t n_lanes = 0;
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *op = &h->ops[window[i]];
		if (op->invoke_ns < t0)
			t0 = op->invoke_ns;
		if (op->invoke_ns > t1)
			t1 = op->invoke_ns;
		if (add_hist_op_done(op) && op->response_ns > t1)
			t1 = op->response_ns;
		size_t l = 0;
		while (l < n_lanes && lanes[l] != op->client)
			l++;
		if (l == n_lanes && n_lanes < 256)
			lanes[n_lanes++] = op->client;
	}
	qsort(lanes, n_lanes, sizeof(lanes[0]), cmp_u32);
	if (n == 0)
		t0 = 0;
	uint64_t span = t1 > t0 ? t1 - t0 : 1;
	t1 = t0 + span + span / 8; /* room for indeterminate ops to fade out */
	const double left = 90, width = 1000, row_h = 30, top = 30;
#define X(t) (left + width * (double)((t) - t0) / (double)(t1 - t0))
	/* Place each op in its client's lane, in the first sub-row where it
	 * overlaps nothing (an abandoned op overlaps the client's later ones). */
	placed *pl = calloc(n ? n : 1, sizeof(*pl));
	size_t rows[256] = {0};
	double *busy = calloc((n ? n : 1) * (n ? n : 1), sizeof(double)); /* [lane][row] */
	if (!pl || !busy) {
		free(pl);
		free(busy);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *op = &h->ops[window[i]];
		size_t l = 0;
		while (l < n_lanes && lanes[l] != op->client)
			l++;
		double x0 = X(op->invoke_ns);
		double x1 = add_hist_op_done(op) ? X(op->response_ns) : left + width;
		if (x1 - x0 < 3)
			x1 = x0 + 3;
		size_t r = 0;
		while (r < rows[l] && busy[l * n + r] > x0)
			r++;
		if (r == rows[l])
			rows[l]++;
		busy[l * n + r] = x1 + 2;
		pl[i] = (placed){.lane = l, .row = r, .x0 = x0, .x1 = x1};
	}
	double lane_y[257];
	lane_y[0] = top;
	for (size_t l = 0; l < n_lanes; l++)
		lane_y[l + 1] = lane_y[l] + row_h * (double)rows[l] + 8;
	double bottom = lane_y[n_lanes] + 10;
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "font-family=\"monospace\" font-size=\"11\">\n",
		left + width + 60, bottom + 30);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
		   "<defs><linearGradient id=\"fade\"><stop offset=\"0\" stop-color=\"#9cf\"/>"
		   "<stop offset=\"1\" stop-color=\"#fff\"/></linearGradient></defs>\n");
	for (size_t l = 0; l < n_lanes; l++)
		fprintf(f,
			"<line x1=\"0\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
			"<text x=\"5\" y=\"%.1f\">client %u</text>\n",
			lane_y[l + 1] - 4, left + width, lane_y[l + 1] - 4,
			(lane_y[l] + lane_y[l + 1]) / 2, lanes[l]);
	for (int k = 0; k <= 5; k++) {
		uint64_t t = t0 + (t1 - t0) * (uint64_t)k / 5;
		fprintf(f,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
			"<text x=\"%.1f\" y=\"%.1f\">%.3f ms</text>\n",
			X(t), top, X(t), bottom, X(t) - 30, bottom + 15, t / 1e6);
	}
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *op = &h->ops[window[i]];
		bool done = add_hist_op_done(op);
		double y = lane_y[pl[i].lane] + row_h * (double)pl[i].row + 2;
		const char *fill = window[i] == culprit	 ? "#f55"
				   : !done		 ? "url(#fade)"
				   : op->kind == ADD_OP_WRITE ? "#9cf"
							   : "#9e9";
		char label[48], a[24], b[24], shown[48];
		add_report_op_label(op, label, sizeof(label));
		time_str(op->invoke_ns, a, sizeof(a));
		time_str(op->response_ns, b, sizeof(b));
		/* The label if it fits in the bar, else only R / W (never a cut
		 * number, which would read as another value); all on hover. */
		size_t fit = pl[i].x1 - pl[i].x0 > 4 ? (size_t)((pl[i].x1 - pl[i].x0 - 4) / 6.7) : 0;
		snprintf(shown, sizeof(shown), "%s", label);
		if (strlen(shown) > fit)
			shown[fit >= 1 ? 1 : 0] = '\0';
		fprintf(f,
			"<g><title>%s, client %u via node %u, invoked %s ms, answered %s ms%s"
			"</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
			"fill=\"%s\" stroke=\"#333\" rx=\"3\"/>"
			"<text x=\"%.1f\" y=\"%.1f\">%s</text></g>\n",
			label, op->client, op->node, a, b,
			op->flags & ADD_OPF_FINAL ? " (final read)" : "", pl[i].x0, y,
			pl[i].x1 - pl[i].x0, row_h - 6, fill, pl[i].x0 + 3, y + row_h / 2, shown);
	}
	fprintf(f, "</svg>\n");
#undef X
	free(pl);
	free(busy);
}

int add_report_write_svg(const char *path, const add_history *h, const size_t *window, size_t n,
			 size_t culprit)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	write_svg(f, h, window, n, culprit);
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

int add_report_write_html(const char *path, const char *title, const char *why,
			  const char *replay, const add_history *h, const size_t *window,
			  size_t n, const size_t *witness, size_t n_witness, size_t culprit)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
	html_escape(f, title);
	fprintf(f, "</title>\n<style>body{font-family:sans-serif;margin:20px}"
		   "code{background:#eee;padding:2px 4px}"
		   "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
		   "font-family:monospace;font-size:12px}tr.bad{background:#fcc}</style>\n"
		   "</head><body>\n<h2>");
	html_escape(f, title);
	fprintf(f, "</h2>\n<p><b>Violation:</b> ");
	html_escape(f, why);
	fprintf(f, "</p>\n<p>Replay: <code>");
	html_escape(f, replay);
	fprintf(f, "</code></p>\n<p>One lane per client; a bar runs from the operation's "
		   "invocation to its response (a bar fading out to the right has no response: "
		   "indeterminate). Values are write ids (wN = the N-th write of the run, zeros = "
		   "never written, garbage = bytes no write produced). Blue: writes, green: "
		   "reads, red: the operation no linearization can place. Hover a bar for its "
		   "node and exact times.</p>\n");
	if (witness && n_witness) {
		fprintf(f, "<h3>A minimal witness: these %zu operations alone are not "
			   "linearizable</h3>\n<p>(removing any one of them makes the rest "
			   "linearizable)</p>\n",
			n_witness);
		write_svg(f, h, witness, n_witness, culprit);
	}
	fprintf(f, "<h3>The window: the sector's operations around the violation</h3>\n");
	write_svg(f, h, window, n, culprit);
	fprintf(f, "<h3>The window as a table</h3>\n<table><tr><th>client</th>"
		   "<th>node</th><th>op</th><th>invoke ms</th><th>response ms</th></tr>\n");
	for (size_t i = 0; i < n; i++) {
		const add_hist_op *op = &h->ops[window[i]];
		char label[48], a[24], b[24];
		add_report_op_label(op, label, sizeof(label));
		time_str(op->invoke_ns, a, sizeof(a));
		time_str(op->response_ns, b, sizeof(b));
		fprintf(f,
			"<tr%s><td>%u</td><td>%u</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			window[i] == culprit ? " class=\"bad\"" : "", op->client, op->node, label,
			a, b);
	}
	fprintf(f, "</table>\n</body></html>\n");
	if (fclose(f) != 0)
		return -errno;
	return 0;
}
