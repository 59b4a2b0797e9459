/*
 * Helpers shared by the cmocka unit tests: capturing what the code under
 * test writes to stderr, so tests can assert exact messages.
 */
#ifndef MS_TESTUTIL_H
#define MS_TESTUTIL_H

/* Redirects fd 2 to a temporary file until capture_end(). */
void capture_start(void);
/* Restores stderr and returns what was written to it (caller frees). */
char *capture_end(void);
/* Removes a directory tree without following symlinks (test clean-up). */
void test_rmtree(const char *dir);

#endif
