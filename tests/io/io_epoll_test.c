// SPDX-License-Identifier: MIT
/* The I/O suite on the epoll backend, chosen with WEFT_BACKEND=epoll. */
#define IO_TEST_EPOLL
#include "io_test.c"
