/*
 * cpu.c -- how many CPUs this process may run on: the size of its affinity mask
 * (taskset, a container's cpuset, systemd's CPUAffinity=), not the machine's count,
 * so that a server confined to two cores starts two request threads, not sixty-four.
 */
#include "core/core.h"

#include <sched.h>
#include <unistd.h>

int cairn_cpu_count(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);   /* more CPUs than a cpu_set_t holds, or no mask */
    return n > 0 ? (int)(n < 4096 ? n : 4096) : 1;
}
