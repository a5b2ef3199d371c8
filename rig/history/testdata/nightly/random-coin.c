/* random-coin: a DELIBERATELY random test for the history fixture
 * (make.sh): it fails one time in two, so that the fixture has a
 * (cell, test) that really flips from night to night. It tests nothing. */
#include <stdio.h>
#include <sys/random.h>

int main(void)
{
	unsigned char b = 0;
	if (getrandom(&b, 1, 0) != 1) {
		perror("getrandom");
		return 2;
	}
	printf("random-coin: byte %u\n", b);
	if (b & 1) {
		printf("random-coin: failing on purpose (this test is random)\n");
		return 1;
	}
	return 0;
}
