/*
 * robust-mutex: glibc's robust, process-shared mutexes against owner death.
 *
 * A mutex (PTHREAD_MUTEX_ROBUST, PTHREAD_PROCESS_SHARED) and the state it
 * protects live in shared memory. Round after round a child takes the
 * mutex, marks the state as being changed (owner = its pid, dirty = 1) and
 * dies holding it, in one of five ways:
 *
 *   exit       the child exits holding the mutex (nobody waits)
 *   kill       the parent SIGKILLs the child while it holds the mutex
 *   contended  the parent blocks on the mutex, then the child exits
 *   kill-wait  the parent blocks on the mutex while a thread of
 *              the parent SIGKILLs the child
 *   thread     a thread of the child exits holding the mutex; the child's
 *              main thread must get EOWNERDEAD and reports by exit status
 *
 * After each death the parent's pthread_mutex_timedlock must return EOWNERDEAD
 * (the kernel's robust-list walk, exit_robust_list/handle_futex_death, set
 * FUTEX_OWNER_DIED and woke a waiter); the parent checks that the state
 * names the dead owner, repairs it, calls pthread_mutex_consistent and
 * unlocks; the next lock must then succeed plainly. It loops for the
 * duration (argv[1] or $RIG_DURATION seconds, default 5; $RIG_SEED seeds
 * the choices), prints what it saw and exits 0 when every owner death was
 * reported, 1 otherwise (2 when it could not run). Every wait is bounded
 * (STUCK_S seconds): a death that woke nobody, so that the mutex can never
 * be taken again, is reported and ends the loop instead of hanging.
 *
 * Build statically (the rig's guest has no C library):
 *   gcc -O2 -static -pthread -o robust-mutex robust-mutex.c
 *   aarch64-linux-gnu-gcc -O2 -static -pthread -o robust-mutex robust-mutex.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
	pthread_mutex_t m;
	volatile pid_t owner; /* who last changed the state */
	volatile int dirty;   /* 1 while a change is under way */
	uint64_t changes;     /* completed changes, under the mutex */
};

/* STUCK_S bounds every wait for the mutex or a child. */
#define STUCK_S 5

enum { EXIT, KILL, CONTENDED, KILL_WAIT, THREAD, NMODES };
static const char *mode_name[NMODES] = {"exit", "kill", "contended", "kill-wait", "thread"};

static struct shared *sh;
static unsigned long deaths[NMODES], reported[NMODES];
static unsigned long errors;
static int stuck; /* the mutex can no longer be taken: stop */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	printf("robust-mutex: %s: %s\n", what, strerror(err));
	exit(2);
}

/* lock takes the mutex in the parent, for at most STUCK_S seconds:
 * ETIMEDOUT means a death left it owned by nobody who will unlock it. */
static int lock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += STUCK_S;
	return pthread_mutex_timedlock(&sh->m, &ts);
}

/* reap waits for a child for at most STUCK_S seconds, then kills it. */
static int reap(pid_t pid, const char *mode)
{
	int status = 0;
	for (int i = 0; i < STUCK_S * 10000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(100);
	}
	errors++;
	stuck = 1;
	printf("robust-mutex: %s round: child %d still running after %d s: killed\n", mode, pid, STUCK_S);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return status;
}

/* take locks the mutex and marks the state as being changed by pid. */
static void take(pid_t pid)
{
	int r = pthread_mutex_lock(&sh->m);
	if (r == EOWNERDEAD) { /* a previous owner's death: repair and go on */
		sh->dirty = 0;
		pthread_mutex_consistent(&sh->m);
	} else if (r != 0) {
		printf("robust-mutex: child %d: lock: %s\n", pid, strerror(r));
		_exit(3);
	}
	sh->owner = pid;
	sh->dirty = 1;
}

static void *thread_take(void *arg)
{
	(void)arg;
	take(getpid()); /* pthread_exit holding the mutex */
	return NULL;
}

/* child runs one round's child; it never returns. */
static void child(int mode, int ready, unsigned delay_us)
{
	char c = 'r';
	if (mode == THREAD) {
		pthread_t t;
		if (pthread_create(&t, NULL, thread_take, NULL) != 0)
			_exit(3);
		pthread_join(t, NULL);
		int r = pthread_mutex_lock(&sh->m);
		if (r != EOWNERDEAD) {
			printf("robust-mutex: thread round: the child's lock after its thread died holding it returned %s, not EOWNERDEAD\n",
			       r ? strerror(r) : "0");
			_exit(4);
		}
		sh->dirty = 0;
		pthread_mutex_consistent(&sh->m);
		pthread_mutex_unlock(&sh->m);
		_exit(0);
	}
	take(getpid());
	if (write(ready, &c, 1) != 1)
		_exit(3);
	switch (mode) {
	case EXIT:
		_exit(0);
	case CONTENDED:
		usleep(delay_us);
		_exit(0);
	default: /* KILL, KILL_WAIT: wait for the parent's SIGKILL */
		for (;;)
			pause();
	}
}

struct killer {
	pid_t pid;
	unsigned delay_us;
};

static void *kill_later(void *arg)
{
	struct killer *k = arg;
	usleep(k->delay_us);
	kill(k->pid, SIGKILL);
	return NULL;
}

/* check is the parent's lock after a death: EOWNERDEAD naming the dead
 * owner, repaired, consistent, unlocked, then a plain lock. */
static void check(int mode, pid_t dead, int ret)
{
	if (ret == ETIMEDOUT) {
		errors++;
		stuck = 1;
		printf("robust-mutex: %s round: lock still blocked %d s after the death of %d: the death woke nobody and the mutex is lost\n",
		       mode_name[mode], STUCK_S, dead);
		return;
	}
	if (ret != EOWNERDEAD) {
		errors++;
		printf("robust-mutex: %s round: lock after the death of %d returned %s, not EOWNERDEAD\n", mode_name[mode], dead,
		       ret ? strerror(ret) : "0 (the death was not reported)");
		if (ret == 0)
			pthread_mutex_unlock(&sh->m);
		return;
	}
	if (sh->owner != dead || !sh->dirty) {
		errors++;
		printf("robust-mutex: %s round: EOWNERDEAD but the state names %d (dirty %d), not the dead owner %d\n", mode_name[mode],
		       sh->owner, sh->dirty, dead);
	} else {
		reported[mode]++;
	}
	sh->dirty = 0;
	sh->changes++;
	if (pthread_mutex_consistent(&sh->m) != 0) {
		errors++;
		printf("robust-mutex: pthread_mutex_consistent failed\n");
	}
	pthread_mutex_unlock(&sh->m);
	int r = lock();
	if (r != 0) {
		errors++;
		printf("robust-mutex: %s round: the lock after pthread_mutex_consistent returned %s\n", mode_name[mode], strerror(r));
	}
	if (r == 0 || r == EOWNERDEAD)
		pthread_mutex_unlock(&sh->m);
}

static void round_(int mode, unsigned delay_us)
{
	int p[2];
	char c;
	if (pipe(p) != 0)
		die("pipe", errno);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (pid == 0) {
		close(p[0]);
		child(mode, p[1], delay_us);
	}
	close(p[1]);
	deaths[mode]++;
	int status = 0, ret;
	struct pollfd pfd = {p[0], POLLIN, 0};
	if (mode != THREAD && (poll(&pfd, 1, STUCK_S * 1000) != 1 || read(p[0], &c, 1) != 1)) {
		errors++;
		stuck = 1;
		printf("robust-mutex: %s round: child %d did not take the mutex within %d s\n", mode_name[mode], pid, STUCK_S);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		close(p[0]);
		return;
	}
	close(p[0]);
	switch (mode) {
	case EXIT:
	case KILL:
		if (mode == KILL)
			kill(pid, SIGKILL);
		reap(pid, mode_name[mode]);
		check(mode, pid, lock());
		break;
	case CONTENDED:
		ret = lock(); /* blocks until the child dies */
		check(mode, pid, ret);
		reap(pid, mode_name[mode]);
		break;
	case KILL_WAIT: {
		struct killer k = {pid, delay_us};
		pthread_t t;
		if (pthread_create(&t, NULL, kill_later, &k) != 0)
			die("pthread_create", errno);
		ret = lock();
		check(mode, pid, ret);
		pthread_join(t, NULL);
		reap(pid, mode_name[mode]);
		break;
	}
	case THREAD:
		status = reap(pid, mode_name[mode]);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			reported[mode]++;
		} else {
			errors++;
			printf("robust-mutex: thread round: child %d ended with status 0x%x\n", pid, status);
		}
		break;
	}
}

int main(int argc, char **argv)
{
	double duration = 5;
	const char *d = argc > 1 ? argv[1] : getenv("RIG_DURATION");
	if (d && atof(d) > 0)
		duration = atof(d);
	const char *s = getenv("RIG_SEED");
	unsigned seed = s ? (unsigned)strtoull(s, NULL, 0) : (unsigned)time(NULL);
	srand(seed);
	setvbuf(stdout, NULL, _IOLBF, 0);

	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap", errno);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	int r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (r == 0)
		r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (r != 0)
		die("pthread_mutexattr", r);
	if ((r = pthread_mutex_init(&sh->m, &a)) != 0)
		die("pthread_mutex_init", r);
	printf("robust-mutex: seed %u, %.0f s, pid %d\n", seed, duration, getpid());

	double start = now();
	unsigned long rounds = 0;
	while (!stuck && now() - start < duration) {
		round_(rand() % NMODES, rand() % 2000);
		rounds++;
	}
	unsigned long dtotal = 0, rtotal = 0;
	for (int m = 0; m < NMODES; m++) {
		printf("robust-mutex: %-9s %lu deaths, %lu reported\n", mode_name[m], deaths[m], reported[m]);
		dtotal += deaths[m];
		rtotal += reported[m];
	}
	if (stuck)
		printf("robust-mutex: stopped early: the mutex can no longer be taken\n");
	int ok = errors == 0 && dtotal > 0 && rtotal == dtotal;
	printf("robust-mutex: %s: %lu of %lu owner deaths reported in %lu rounds, %.1f s, %lu errors\n", ok ? "PASS" : "FAIL", rtotal,
	       dtotal, rounds, now() - start, errors);
	return ok ? 0 : 1;
}
