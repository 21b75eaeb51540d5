/*
 * The cgroup BPF programs of `net = "bound"`, assembled here instruction by instruction (as systemd's bpf-firewall
 * does: no clang, no libbpf, no object file to ship) with the guest's addresses as immediates, loaded with bpf(2)
 * and attached to the guest's cgroup2 directory.
 *
 * - sock_create: only TCP and UDP sockets (no raw, ICMP or other protocols whose traffic the hooks below do not see).
 * - bind4/bind6: a wildcard bind goes to the guest's first address of the family (a dual-stack socket of a guest
 *   without IPv6 to its first IPv4 address, v4-mapped); 127.0.0.1 and ::1 to its loopback address; any other
 *   address than its own is refused (EPERM).
 * - connect4/connect6: 127.0.0.1 and ::1 become its loopback address; other addresses of 127.0.0.0/8 than its own
 *   are refused; the socket is bound to the matching source address first (bpf_bind with port 0, which picks the
 *   port at connect time), unless the program already bound it.
 * - sendmsg4/sendmsg6 (unconnected UDP): the same for the destination, and the source is set unless the sender
 *   chose one of its own addresses.
 * Addresses are compared as the 32-bit words they are in memory (network byte order), with 32-bit jumps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "child.h"
#include "vserver_bound.h"

enum { MAX_INSNS = 1024, MAX_LABELS = 96, MAX_FIXUPS = 512 };

/* A program being assembled: instructions, and jumps to labels resolved at the end. */
struct program {
    struct bpf_insn insns[MAX_INSNS];
    int count;
    int labels[MAX_LABELS];
    int label_count;
    struct {
        int at;
        int label;
    } fixups[MAX_FIXUPS];
    int fixup_count;
    int overflow;
    int allow, deny;
};

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

static void emit(struct program *p, struct bpf_insn insn)
{
    if (p->count >= MAX_INSNS) {
        p->overflow = 1;
        return;
    }
    p->insns[p->count++] = insn;
}

static int new_label(struct program *p)
{
    if (p->label_count >= MAX_LABELS) {
        p->overflow = 1;
        return 0;
    }
    p->labels[p->label_count] = -1;
    return p->label_count++;
}

static void place(struct program *p, int label) { p->labels[label] = p->count; }

static void add_fixup(struct program *p, int label)
{
    if (p->fixup_count >= MAX_FIXUPS) {
        p->overflow = 1;
        return;
    }
    p->fixups[p->fixup_count].at = p->count;
    p->fixups[p->fixup_count++].label = label;
}

/* if (u32)reg OP imm goto label */
static void jump_if(struct program *p, int op, int reg, int32_t imm, int label)
{
    add_fixup(p, label);
    emit(p, INSN(BPF_JMP32 | op | BPF_K, reg, 0, 0, imm));
}

static void jump(struct program *p, int label)
{
    add_fixup(p, label);
    emit(p, INSN(BPF_JMP | BPF_JA, 0, 0, 0, 0));
}

static int resolve(struct program *p)
{
    for (int i = 0; i < p->fixup_count; i++) {
        int target = p->labels[p->fixups[i].label];
        if (target < 0)
            return -1;
        p->insns[p->fixups[i].at].off = (int16_t)(target - p->fixups[i].at - 1);
    }
    return p->overflow ? -1 : 0;
}

/* R6 keeps the context (R1-R5 go with every helper call). */
static void begin(struct program *p)
{
    memset(p, 0, sizeof *p);
    p->allow = new_label(p);
    p->deny = new_label(p);
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_1, 0, 0));
}

static void end(struct program *p)
{
    place(p, p->allow);
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
    emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    place(p, p->deny);
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
    emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

static void load_word(struct program *p, int reg, int16_t offset)
{
    emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, reg, BPF_REG_6, offset, 0));
}

/* ctx->field = value (the verifier allows only register stores into the context). */
static void store_word(struct program *p, int16_t offset, int32_t value)
{
    emit(p, INSN(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_7, 0, 0, value));
    emit(p, INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_6, BPF_REG_7, offset, 0));
}

static void stack_word(struct program *p, int16_t offset, int32_t value)
{
    emit(p, INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, offset, value));
}

static int32_t word(const uint8_t *bytes)
{
    int32_t value;
    memcpy(&value, bytes, sizeof value);
    return value;
}

static const uint8_t localhost4[4] = {127, 0, 0, 1};
static const uint8_t localhost6_last[4] = {0, 0, 0, 1};
static const uint8_t mapped_prefix[4] = {0, 0, 0xff, 0xff};

/* The 4 words of an IPv6 address; an IPv4 one as ::ffff:a.b.c.d. */
static void words6(const uint8_t *address, int32_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = word(address + 4 * i);
}

static void mapped_words(const uint8_t *ipv4, int32_t out[4])
{
    out[0] = out[1] = 0;
    out[2] = word(mapped_prefix);
    out[3] = word(ipv4);
}

static void store_words6(struct program *p, int16_t offset, const int32_t words[4])
{
    for (int i = 0; i < 4; i++)
        store_word(p, (int16_t)(offset + 4 * i), words[i]);
}

/* goto label unless R2..R5 hold `words` */
static void unless_words(struct program *p, const int32_t words[4], int label)
{
    for (int i = 0; i < 4; i++)
        jump_if(p, BPF_JNE, BPF_REG_2 + i, words[i], label);
}

/* goto `ok` if reg is one of the guest's IPv4 addresses or its loopback address */
static void if_own4(struct program *p, const struct vs_bound_spec *spec, int reg, int ok)
{
    for (uint32_t i = 0; i < spec->ipv4_count; i++)
        jump_if(p, BPF_JEQ, reg, word(spec->ipv4[i]), ok);
    jump_if(p, BPF_JEQ, reg, word(spec->loopback), ok);
}

/* goto `ok` if R2..R5 hold one of the guest's IPv6 addresses */
static void if_own6(struct program *p, const struct vs_bound_spec *spec, int ok)
{
    for (uint32_t i = 0; i < spec->ipv6_count; i++) {
        int32_t words[4];
        int next = new_label(p);
        words6(spec->ipv6[i], words);
        unless_words(p, words, next);
        jump(p, ok);
        place(p, next);
    }
}

/* bpf_bind(ctx, &sockaddr, size) with port 0; the result is left alone (EINVAL: the socket is bound already). */
static void bind_source4(struct program *p, const uint8_t *address)
{
    stack_word(p, -16, AF_INET); /* sin_family, sin_port 0 */
    stack_word(p, -12, word(address));
    stack_word(p, -8, 0);
    stack_word(p, -4, 0);
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0));
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0));
    emit(p, INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -16));
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, 16));
    emit(p, INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_bind));
    jump(p, p->allow);
}

static void bind_source6(struct program *p, const int32_t words[4])
{
    stack_word(p, -32, AF_INET6); /* sin6_family, sin6_port 0 */
    stack_word(p, -28, 0);        /* flow info */
    for (int i = 0; i < 4; i++)
        stack_word(p, (int16_t)(-24 + 4 * i), words[i]);
    stack_word(p, -8, 0); /* scope id */
    stack_word(p, -4, 0);
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_6, 0, 0));
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0));
    emit(p, INSN(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -32));
    emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, (int32_t)sizeof(struct sockaddr_in6)));
    emit(p, INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_bind));
    jump(p, p->allow);
}

/* goto label if reg is in 127.0.0.0/8 (its first byte is the low byte of the word) */
static void if_loopback_range(struct program *p, int reg, int label)
{
    emit(p, INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_8, reg, 0, 0));
    emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_8, 0, 0, 0xff));
    jump_if(p, BPF_JEQ, BPF_REG_8, 127, label);
}

#define ADDR_OFF(field) ((int16_t)offsetof(struct bpf_sock_addr, field))

static void build_sock_create(struct program *p, const struct vs_bound_spec *spec)
{
    (void)spec;
    begin(p);
    int dgram = new_label(p);
    emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_6, offsetof(struct bpf_sock, type), 0));
    emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, BPF_REG_3, BPF_REG_6, offsetof(struct bpf_sock, protocol), 0));
    jump_if(p, BPF_JNE, BPF_REG_2, SOCK_STREAM, dgram);
    jump_if(p, BPF_JEQ, BPF_REG_3, IPPROTO_TCP, p->allow);
    jump(p, p->deny);
    place(p, dgram);
    jump_if(p, BPF_JNE, BPF_REG_2, SOCK_DGRAM, p->deny);
    jump_if(p, BPF_JEQ, BPF_REG_3, IPPROTO_UDP, p->allow);
    jump(p, p->deny);
    end(p);
}

/* A bind to the IPv4 address in `reg` (user_ip4, or the last word of a v4-mapped user_ip6, rewritten at `offset`):
 * 0.0.0.0 becomes the first IPv4 address, 127.0.0.1 the loopback address; the guest's own pass, the rest not. */
static void bind_ipv4(struct program *p, const struct vs_bound_spec *spec, int reg, int16_t offset)
{
    int wildcard = new_label(p), localhost = new_label(p);
    jump_if(p, BPF_JEQ, reg, 0, wildcard);
    jump_if(p, BPF_JEQ, reg, word(localhost4), localhost);
    if_own4(p, spec, reg, p->allow);
    jump(p, p->deny);
    place(p, wildcard);
    if (spec->ipv4_count == 0) {
        jump(p, p->deny);
    } else {
        store_word(p, offset, word(spec->ipv4[0]));
        jump(p, p->allow);
    }
    place(p, localhost);
    store_word(p, offset, word(spec->loopback));
    jump(p, p->allow);
}

static void build_bind4(struct program *p, const struct vs_bound_spec *spec)
{
    begin(p);
    load_word(p, BPF_REG_2, ADDR_OFF(user_ip4));
    bind_ipv4(p, spec, BPF_REG_2, ADDR_OFF(user_ip4));
    end(p);
}

/* R2..R5 = ctx->user_ip6; goto `mapped` with R5 = the IPv4 address when it is ::ffff:a.b.c.d */
static void load_ip6(struct program *p, int16_t offset, int mapped)
{
    int native = new_label(p);
    for (int i = 0; i < 4; i++)
        load_word(p, BPF_REG_2 + i, (int16_t)(offset + 4 * i));
    jump_if(p, BPF_JNE, BPF_REG_2, 0, native);
    jump_if(p, BPF_JNE, BPF_REG_3, 0, native);
    jump_if(p, BPF_JEQ, BPF_REG_4, word(mapped_prefix), mapped);
    place(p, native);
}

static void build_bind6(struct program *p, const struct vs_bound_spec *spec)
{
    begin(p);
    int mapped = new_label(p), not_unspecified = new_label(p), not_localhost = new_label(p);
    int32_t words[4], zero[4] = {0, 0, 0, 0}, localhost[4] = {0, 0, 0, word(localhost6_last)};
    load_ip6(p, ADDR_OFF(user_ip6), mapped);
    unless_words(p, zero, not_unspecified);
    if (spec->ipv6_count > 0) {
        words6(spec->ipv6[0], words);
    } else if (spec->ipv4_count > 0) {
        mapped_words(spec->ipv4[0], words); /* a dual-stack socket; one with IPV6_V6ONLY gets EINVAL */
    } else {
        jump(p, p->deny);
    }
    if (spec->ipv6_count > 0 || spec->ipv4_count > 0) {
        store_words6(p, ADDR_OFF(user_ip6), words);
        jump(p, p->allow);
    }
    place(p, not_unspecified);
    unless_words(p, localhost, not_localhost);
    mapped_words(spec->loopback, words);
    store_words6(p, ADDR_OFF(user_ip6), words);
    jump(p, p->allow);
    place(p, not_localhost);
    if_own6(p, spec, p->allow);
    jump(p, p->deny);

    /* ::ffff:a.b.c.d, as bind4 treats a.b.c.d */
    place(p, mapped);
    bind_ipv4(p, spec, BPF_REG_5, ADDR_OFF(user_ip6[3]));
    end(p);
}

/*
 * The IPv4 destination in `reg` (user_ip4, or the last word of a v4-mapped user_ip6): 127.0.0.1 is rewritten to
 * the loopback address (by `rewrite`), the rest of 127.0.0.0/8 but that is refused; then `source` runs with the
 * source address to use (an IPv4 address as bytes).
 */
typedef void (*source_step)(struct program *p, const struct vs_bound_spec *spec, const uint8_t *address);

static void route4(struct program *p, const struct vs_bound_spec *spec, int reg, int16_t rewrite_offset,
                   source_step source)
{
    int localhost = new_label(p), loopback_range = new_label(p), own_loopback = new_label(p);
    jump_if(p, BPF_JEQ, reg, word(localhost4), localhost);
    if_loopback_range(p, reg, loopback_range);
    if (spec->ipv4_count == 0)
        jump(p, p->deny);
    else
        source(p, spec, spec->ipv4[0]);
    place(p, localhost);
    store_word(p, rewrite_offset, word(spec->loopback));
    source(p, spec, spec->loopback);
    place(p, loopback_range);
    jump_if(p, BPF_JEQ, reg, word(spec->loopback), own_loopback);
    jump(p, p->deny);
    place(p, own_loopback);
    source(p, spec, spec->loopback);
}

static void connect_source4(struct program *p, const struct vs_bound_spec *spec, const uint8_t *address)
{
    (void)spec;
    bind_source4(p, address);
}

static void connect_source_mapped(struct program *p, const struct vs_bound_spec *spec, const uint8_t *address)
{
    int32_t words[4];
    (void)spec;
    mapped_words(address, words);
    bind_source6(p, words);
}

static void build_connect4(struct program *p, const struct vs_bound_spec *spec)
{
    begin(p);
    load_word(p, BPF_REG_2, ADDR_OFF(user_ip4));
    route4(p, spec, BPF_REG_2, ADDR_OFF(user_ip4), connect_source4);
    end(p);
}

/* sendmsg: the source the sender chose (IP_PKTINFO, or the address its socket is bound to) must be its own; none
 * chosen: `address`. */
static void send_source4(struct program *p, const struct vs_bound_spec *spec, const uint8_t *address)
{
    int unset = new_label(p);
    load_word(p, BPF_REG_3, ADDR_OFF(msg_src_ip4));
    jump_if(p, BPF_JEQ, BPF_REG_3, 0, unset);
    if_own4(p, spec, BPF_REG_3, p->allow);
    jump(p, p->deny);
    place(p, unset);
    store_word(p, ADDR_OFF(msg_src_ip4), word(address));
    jump(p, p->allow);
}

static void send_source6_words(struct program *p, const struct vs_bound_spec *spec, const int32_t words[4])
{
    int mapped = new_label(p), chosen = new_label(p);
    int32_t zero[4] = {0, 0, 0, 0};
    load_ip6(p, ADDR_OFF(msg_src_ip6), mapped);
    unless_words(p, zero, chosen);
    store_words6(p, ADDR_OFF(msg_src_ip6), words);
    jump(p, p->allow);
    place(p, chosen);
    if_own6(p, spec, p->allow);
    jump(p, p->deny);
    place(p, mapped);
    if_own4(p, spec, BPF_REG_5, p->allow);
    jump(p, p->deny);
}

static void send_source_mapped(struct program *p, const struct vs_bound_spec *spec, const uint8_t *address)
{
    int32_t words[4];
    mapped_words(address, words);
    send_source6_words(p, spec, words);
}

static void build_sendmsg4(struct program *p, const struct vs_bound_spec *spec)
{
    begin(p);
    load_word(p, BPF_REG_2, ADDR_OFF(user_ip4));
    route4(p, spec, BPF_REG_2, ADDR_OFF(user_ip4), send_source4);
    end(p);
}

/* connect6 and sendmsg6: ::1 becomes the loopback address (v4-mapped), another IPv6 destination takes the first
 * IPv6 address as source (`source6`), a v4-mapped one is routed as IPv4 (`mapped_source`). */
typedef void (*source6_step)(struct program *p, const struct vs_bound_spec *spec, const int32_t words[4]);

static void build_destination6(struct program *p, const struct vs_bound_spec *spec, source6_step source6,
                               source_step mapped_source)
{
    begin(p);
    int mapped = new_label(p), not_localhost = new_label(p);
    int32_t words[4], localhost[4] = {0, 0, 0, word(localhost6_last)};
    load_ip6(p, ADDR_OFF(user_ip6), mapped);
    unless_words(p, localhost, not_localhost);
    mapped_words(spec->loopback, words);
    store_words6(p, ADDR_OFF(user_ip6), words);
    source6(p, spec, words);
    place(p, not_localhost);
    if (spec->ipv6_count == 0) {
        jump(p, p->deny);
    } else {
        words6(spec->ipv6[0], words);
        source6(p, spec, words);
    }
    place(p, mapped);
    route4(p, spec, BPF_REG_5, ADDR_OFF(user_ip6[3]), mapped_source);
    end(p);
}

static void connect_source6(struct program *p, const struct vs_bound_spec *spec, const int32_t words[4])
{
    (void)spec;
    bind_source6(p, words);
}

static void build_connect6(struct program *p, const struct vs_bound_spec *spec)
{
    build_destination6(p, spec, connect_source6, connect_source_mapped);
}

static void build_sendmsg6(struct program *p, const struct vs_bound_spec *spec)
{
    build_destination6(p, spec, send_source6_words, send_source_mapped);
}

static long sys_bpf(int command, union bpf_attr *attr) { return syscall(SYS_bpf, command, attr, sizeof *attr); }

enum { LOG_SIZE = 65536 };

/* The last non-empty line of the verifier's log. */
static const char *last_log_line(char *log)
{
    size_t length = strnlen(log, LOG_SIZE - 1);
    log[length] = '\0';
    while (length > 0 && log[length - 1] == '\n')
        log[--length] = '\0';
    const char *line = strrchr(log, '\n');
    return line != NULL ? line + 1 : log;
}

static int load(const struct program *p, uint32_t type, uint32_t attach_type, const char *name,
                struct vs_error *error)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = type;
    attr.expected_attach_type = attach_type;
    attr.insns = (uint64_t)(uintptr_t)p->insns;
    attr.insn_cnt = (uint32_t)p->count;
    attr.license = (uint64_t)(uintptr_t) "Dual MIT/GPL";
    strncpy(attr.prog_name, name, sizeof attr.prog_name - 1);
    int fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd >= 0)
        return fd;
    int err = errno;
    /* Again with the verifier's log, for the error message. */
    char *log = calloc(1, LOG_SIZE);
    if (log == NULL)
        return vs_set_error(error, "bpf BPF_PROG_LOAD ", name, NULL, err);
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = LOG_SIZE;
    attr.log_level = 1;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &attr);
    if (fd < 0)
        vs_set_error(error, "bpf BPF_PROG_LOAD ", name, log[0] != '\0' ? last_log_line(log) : NULL, err);
    free(log);
    return fd < 0 ? -1 : fd;
}

static int attach(int cgroup_fd, int program_fd, uint32_t attach_type, int detach)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)program_fd;
    attr.attach_type = attach_type;
    if (!detach)
        attr.attach_flags = BPF_F_ALLOW_MULTI;
    return (int)sys_bpf(detach ? BPF_PROG_DETACH : BPF_PROG_ATTACH, &attr);
}

int vs_bound_attach(int cgroup_fd, const struct vs_bound_spec *spec, struct vs_error *error)
{
    static const struct {
        const char *name;
        uint32_t type, attach_type;
        void (*build)(struct program *, const struct vs_bound_spec *);
    } programs[VS_BOUND_PROGRAM_COUNT] = {
        {"vs_sock_create", BPF_PROG_TYPE_CGROUP_SOCK, BPF_CGROUP_INET_SOCK_CREATE, build_sock_create},
        {"vs_bind4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_BIND, build_bind4},
        {"vs_bind6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_BIND, build_bind6},
        {"vs_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, build_connect4},
        {"vs_connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, build_connect6},
        {"vs_sendmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, build_sendmsg4},
        {"vs_sendmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG, build_sendmsg6},
    };
    int fds[VS_BOUND_PROGRAM_COUNT];
    int attached = 0, result = 0;

    if (spec->ipv4_count > VS_BOUND_MAX_ADDRESSES || spec->ipv6_count > VS_BOUND_MAX_ADDRESSES)
        return vs_set_error(error, "bound addresses", NULL, NULL, E2BIG);
    /* ~16 KiB: not on the stack of whatever thread calls this. */
    struct program *scratch = malloc(sizeof *scratch);
    if (scratch == NULL)
        return vs_set_error(error, "assemble bound programs", NULL, NULL, ENOMEM);
    for (int i = 0; i < VS_BOUND_PROGRAM_COUNT; i++) {
        programs[i].build(scratch, spec);
        if (resolve(scratch) < 0) {
            result = vs_set_error(error, "assemble ", programs[i].name, NULL, E2BIG);
            break;
        }
        fds[i] = load(scratch, programs[i].type, programs[i].attach_type, programs[i].name, error);
        if (fds[i] < 0) {
            result = -1;
            break;
        }
        if (attach(cgroup_fd, fds[i], programs[i].attach_type, 0) < 0) {
            result = vs_set_error(error, "bpf BPF_PROG_ATTACH ", programs[i].name, NULL, errno);
            close(fds[i]);
            break;
        }
        attached++;
    }
    for (int i = 0; i < attached; i++) {
        if (result < 0)
            attach(cgroup_fd, fds[i], programs[i].attach_type, 1);
        close(fds[i]);
    }
    free(scratch);
    return result;
}
