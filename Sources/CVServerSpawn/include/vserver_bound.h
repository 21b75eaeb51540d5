/*
 * `net = "bound"` (docs/ARCHITECTURE.md §3): cgroup BPF programs that hold every socket of a cgroup to a guest's own
 * addresses on the host's network stack, as util-vserver's kernel patch did with chbind.
 */
#ifndef VSERVER_BOUND_H
#define VSERVER_BOUND_H

#include <stdint.h>

#include "vserver_spawn.h"

#define VS_BOUND_MAX_ADDRESSES 16

/* Addresses in network byte order. The first of each family is where a wildcard bind goes and the source address
 * of outgoing traffic; 127.0.0.1 and ::1 become `loopback` (an address of 127.0.0.0/8 of the guest's own). */
struct vs_bound_spec {
    uint8_t ipv4[VS_BOUND_MAX_ADDRESSES][4];
    uint32_t ipv4_count;
    uint8_t ipv6[VS_BOUND_MAX_ADDRESSES][16];
    uint32_t ipv6_count;
    uint8_t loopback[4];
};

/*
 * Loads the programs (sock_create, bind4/6, connect4/6, sendmsg4/6) and attaches them with BPF_F_ALLOW_MULTI to
 * the cgroup2 directory `cgroup_fd`, so that they apply to it and every cgroup below and other programs (systemd's
 * IP firewall) still run. They stay until the cgroup is removed. On failure nothing stays attached; 0 or -1 with
 * *error (a program the verifier refused has the last line of its log as the path).
 */
int vs_bound_attach(int cgroup_fd, const struct vs_bound_spec *spec, struct vs_error *error);

/* The number of programs vs_bound_attach attaches. */
#define VS_BOUND_PROGRAM_COUNT 7

#endif
