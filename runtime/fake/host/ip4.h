/*
 * ip4.h - IPv4 addresses and prefixes as the simulated host and the simulation
 * read and write them: "a.b.c.d" (each part 0-255, at most three digits) to a
 * host-order uint32_t and back, and "a.b.c.d/n". The one parser of the fake
 * cluster (host.c, sim.c and sim_ipam.c each had their own).
 */
#ifndef CM_FAKE_IP4_H
#define CM_FAKE_IP4_H

#include <stddef.h>
#include <stdint.h>

/* Parses "a.b.c.d" (len bytes of s, or all of it when len is 0) into *out; 1 if it is one, else 0. */
int cm_ip4_parse(const char *s, size_t len, uint32_t *out);

/* Parses "a.b.c.d/n" (n 0-32) into address (host bits kept) and prefix; 1 if it is one, else 0. */
int cm_ip4_parse_cidr(const char *s, uint32_t *addr, int *prefix);

/* The netmask of a prefix length (0-32). */
uint32_t cm_ip4_mask(int prefix);

/* Writes "a.b.c.d" into buf (16 bytes hold any). */
void cm_ip4_format(uint32_t a, char *buf, size_t size);

#endif
