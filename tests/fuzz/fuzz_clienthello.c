/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target of the TLS passthrough ClientHello parser
 * (user/http/clienthello.c). Besides memory safety (ASan/UBSan), the
 * properties passthru.c relies on, or abort(): a name found is 1..255
 * lower-case host-name bytes; "more" asks for bytes past those given and
 * within HX_CH_RAW_MAX; and the answer does not depend on how the bytes
 * were split on arrival: a prefix that already decides (a name, or an
 * error) decides the same for the whole input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/clienthello.h"

static struct hx_ch full, pre;

static void check_name(const struct hx_ch *c)
{
	if (!c->has_sni)
		return;
	if (c->sni_len == 0 || c->sni_len > HX_CH_NAME_MAX || strlen(c->sni) != c->sni_len)
		abort();
	for (size_t i = 0; i < c->sni_len; i++) {
		char b = c->sni[i];

		if (!((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '_' ||
		      b == '.'))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split;
	int rf, rp;

	rf = hx_ch_parse(data, size, &full);
	if (rf == HX_CH_MORE && (full.need <= size || full.need > HX_CH_RAW_MAX))
		abort();
	if (rf == HX_CH_OK)
		check_name(&full);
	if (size == 0)
		return 0;
	/* a split point taken from the input itself */
	split = ((size_t)data[size - 1] * 257 + size) % size;
	rp = hx_ch_parse(data, split, &pre);
	if (rp == HX_CH_MORE) {
		if (pre.need <= split || pre.need > HX_CH_RAW_MAX)
			abort();
		return 0;
	}
	if (rp != rf)
		abort();
	if (rp == HX_CH_OK && (pre.has_sni != full.has_sni || strcmp(pre.sni, full.sni) ||
			       pre.nexts != full.nexts))
		abort();
	return 0;
}
