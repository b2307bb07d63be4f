// SPDX-License-Identifier: MIT
/*
 * The I/O suite with io_uring_setup() denied (EPERM) by a seccomp filter
 * installed before main(): the fallback a container profile causes.
 */
#define IO_TEST_SECCOMP
#include "io_test.c"
