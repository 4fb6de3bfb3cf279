/*
 * rand.h - the runtime's one pseudo-random step, splitmix64: the simulation's scheduler, kubelets
 * and faults, and the drain's retry jitter each draw from a state of their own, so the same seed
 * gives the same run.
 */
#ifndef CM_RAND_H
#define CM_RAND_H

#include <stdint.h>

/* Advances *s and returns the next 64 random bits. */
static inline uint64_t cm_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

#endif
