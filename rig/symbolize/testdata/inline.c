extern void sink(int);

static inline __attribute__((always_inline)) void inner(volatile int *p)
{
	*p = *p * 7;
	sink(*p);
}

__attribute__((noinline)) int outer(volatile int *p)
{
	inner(p);
	return *p + 2;
}

void sink(int v)
{
	__asm__ volatile("" : : "r"(v));
}

__attribute__((aligned(64))) int main(void)
{
	volatile int x = 5;
	return outer(&x);
}
