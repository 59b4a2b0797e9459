/*
 * libFuzzer target: the two JSON documents of a snapshot (formats/
 * manifest.c): the header (modosnap.json) and the manifest (MANIFEST.json).
 * Each input is decoded as both. Whatever decodes must survive a round
 * trip: its encoding decodes again and encodes to the same text (what
 * create writes, verify and restore read back).
 */
#include "fuzzutil.h"
#include "formats/manifest.h"

#include <stdlib.h>
#include <string.h>

static void header_round_trip(const struct ms_header *h)
{
	char *text = ms_header_encode(h), *again;
	struct ms_header h2;

	FZ_ASSERT(text != NULL);
	FZ_ASSERT(ms_header_decode("modosnap.json", text, strlen(text), &h2) == 0);
	again = ms_header_encode(&h2);
	FZ_ASSERT(strcmp(text, again) == 0);
	free(again);
	free(text);
	ms_header_clear(&h2);
}

static void manifest_round_trip(const struct ms_manifest *m)
{
	char *text = ms_manifest_encode(m), *again;
	struct ms_manifest m2;

	FZ_ASSERT(text != NULL);
	memset(&m2, 0, sizeof(m2));
	FZ_ASSERT(ms_manifest_decode("MANIFEST.json", text, strlen(text), &m2) == 0);
	again = ms_manifest_encode(&m2);
	FZ_ASSERT(strcmp(text, again) == 0);
	for (size_t i = 0; i < m->n_entries; i++)
		FZ_ASSERT(ms_manifest_find(&m2, m->entries[i].e.path) != NULL);
	free(again);
	free(text);
	ms_manifest_clear(&m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly `size` bytes, no terminating NUL: the decoders take a length. */
	char *text = malloc(size ? size : 1);
	struct ms_header h;
	struct ms_manifest m;

	if (!text)
		abort();
	if (size)
		memcpy(text, data, size);
	if (ms_header_decode("modosnap.json", text, size, &h) == 0) {
		header_round_trip(&h);
		ms_header_clear(&h);
	}
	memset(&m, 0, sizeof(m));
	if (ms_manifest_decode("MANIFEST.json", text, size, &m) == 0) {
		manifest_round_trip(&m);
		ms_manifest_clear(&m);
	}
	free(text);
	return 0;
}
