// SPDX-License-Identifier: Apache-2.0
/*
 * The one JSON string writer used by sluiced and sluicectl output. Every
 * string that reaches JSON goes through here, so names from user YAML
 * (quotes, backslashes, control characters) cannot break the document.
 * Bytes >= 0x80 are passed through: our inputs are UTF-8 YAML.
 */
#include <stdio.h>

#include "sluice/ctl.h"

void sl_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	fputc('"', f);
	for (; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}
