/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LINUX_FUTEX_H
#define _LINUX_FUTEX_H
#define FUTEX_TEST_4 4
#define FUTEX_TEST_5 5
#define FUTEX_TEST_6 6
#define FUTEX_TEST_7 7
#define FUTEX_TEST_8 8
#define FUTEX_TEST_9 9
#define FUTEX_TEST_10 10
#define FUTEX_TEST_11 11
#define FUTEX_TEST_12 12
#define FUTEX_TEST_13 13
#define FUTEX_TEST_14 14
#define FUTEX_TEST_15 15
#define FUTEX_TEST_16 16
#define FUTEX_TEST_17 17
#define FUTEX_TEST_18 18
#define FUTEX_TEST_19 19
#define FUTEX_TEST_20 20
#define FUTEX_TEST_21 21
#define FUTEX_TEST_22 22
#define FUTEX_TEST_23 23
#define FUTEX_TEST_24 24
#define FUTEX_TEST_25 25
#define FUTEX_TEST_26 26
#define FUTEX_TEST_27 27
#define FUTEX_TEST_28 28
#define FUTEX_TEST_29 29
#define FUTEX_TEST_30 30
#endif
