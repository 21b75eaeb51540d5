/*
 * The confinement every guest process gets right before its exec, PID 1 and every `exec`/`enter` command alike
 * (docs/ARCHITECTURE.md §7): a session keyring of its own and a seccomp filter, which every process of the guest
 * inherits.
 *
 * The filter is assembled by the parent before clone (vs_filter_build), into memory the child reads: the child
 * only calls seccomp(2). It is a deny list, modelled on the default profiles of Docker/Podman (containers/common
 * seccomp.json) and LXC, for what a guest's root could reach the host with although its capabilities are cut:
 *
 * - always: kexec_load and kexec_file_load. Guests keep CAP_SYS_BOOT, so that reboot and poweroff inside work as on a
 *   machine: in a pid namespace of its own, reboot(2) only ends that namespace's init. But without a user namespace
 *   the same capability would let a guest load a kernel for the host to boot (kexec checks CAP_SYS_BOOT against the
 *   host's user namespace). This is all `seccomp = "unconfined"` keeps.
 * - by default (EPERM): bpf, perf_event_open, userfaultfd, open_by_handle_at (the "shocker" escape), init_module,
 *   finit_module, delete_module, iopl, ioperm, vm86, swapon, swapoff, acct. Most need a capability the guest does
 *   not have; the filter holds where `[capabilities] add` grants one, and where the kernel lets unprivileged callers
 *   in (perf_event_open, userfaultfd, bpf under the host's sysctls), and it shrinks the kernel the guest can reach.
 * - by default without a user namespace also: add_key, request_key and keyctl, because keyrings are not namespaced:
 *   the guest's root is the host's uid 0 and shares its user keyring (Docker denies them too); and clone and unshare
 *   with CLONE_NEWUSER, because a user namespace of its own gives every capability over namespaces it then makes.
 *   clone3 passes its flags in memory, which a filter cannot read: it fails with ENOSYS, so that glibc falls back to
 *   clone (as Docker and runc do).
 * - With `user = true` keyrings are the guest's own (the kernel keeps user keyrings per user namespace, and its ids
 *   are not the host's) and user namespaces nest under its own: systemd and nested containers need both.
 *
 * Every ABI a process of this architecture can call is covered (x86-64, x32 and i386 on x86-64; arm64 and arm);
 * a call from any other is killed.
 */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The syscalls of one ABI the filter names. 0 ends a list (no ABI here denies syscall 0). */
struct abi {
    uint32_t arch;             /* AUDIT_ARCH_* in seccomp_data.arch */
    uint32_t number_mask;      /* applied to the number before comparing: x32 numbers carry bit 30 */
    int kexec[4];              /* kexec_load, kexec_file_load */
    int denied[20];            /* EPERM in the default filter */
    int keyrings[4];           /* add_key, request_key, keyctl: EPERM by default without a user namespace */
    int clone, unshare, clone3;
};

/* On x86-64 the x32 ABI has the same arch value and the x86-64 numbers with bit 30 set, plus its own numbers
 * from 512 up (528 is its kexec_load): clearing the bit covers both with one list. */
#define X32_SYSCALL_BIT 0x40000000u

static const struct abi abis[] = {
#if defined(__x86_64__)
    {
        .arch = AUDIT_ARCH_X86_64,
        .number_mask = ~X32_SYSCALL_BIT,
        .kexec = {246, 320, 528},
        /* bpf, perf_event_open, userfaultfd, open_by_handle_at, init_module, finit_module, delete_module, iopl,
         * ioperm, swapon, swapoff, acct */
        .denied = {321, 298, 323, 304, 175, 313, 176, 172, 173, 167, 168, 163},
        .keyrings = {248, 249, 250},
        .clone = 56, .unshare = 272, .clone3 = 435,
    },
    {
        .arch = AUDIT_ARCH_I386,
        .number_mask = ~0u,
        .kexec = {283},
        /* the same, then vm86old, vm86 */
        .denied = {357, 336, 374, 342, 128, 350, 129, 110, 101, 87, 115, 51, 113, 166},
        .keyrings = {286, 287, 288},
        .clone = 120, .unshare = 310, .clone3 = 435,
    },
#elif defined(__aarch64__)
    {
        .arch = AUDIT_ARCH_AARCH64,
        .number_mask = ~0u,
        .kexec = {104, 294},
        /* bpf, perf_event_open, userfaultfd, open_by_handle_at, init_module, finit_module, delete_module, swapon,
         * swapoff, acct (no iopl, ioperm) */
        .denied = {280, 241, 282, 265, 105, 273, 106, 224, 225, 89},
        .keyrings = {217, 218, 219},
        .clone = 220, .unshare = 97, .clone3 = 435,
    },
    {
        .arch = AUDIT_ARCH_ARM,
        .number_mask = ~0u,
        .kexec = {347, 401},
        .denied = {386, 364, 388, 371, 128, 379, 129, 87, 115, 51},
        .keyrings = {309, 310, 311},
        .clone = 120, .unshare = 337, .clone3 = 435,
    },
#else
#error "add this architecture's ABIs and syscall numbers"
#endif
};

#define ABI_COUNT (sizeof abis / sizeof abis[0])
#define RET_ERRNO(err) (SECCOMP_RET_ERRNO | ((err) & SECCOMP_RET_DATA))

/* The low 32 bits of the first argument: the flags of clone and unshare (on every ABI here). */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#else
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#endif

static void emit(struct vs_filter *f, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    /* vs_filter_build never needs more; a truncated program would fail to load (a return must end it). */
    if (f->len < VS_FILTER_MAX)
        f->insns[f->len++] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
}

static void load_number(struct vs_filter *f, const struct abi *abi)
{
    emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
    if (abi->number_mask != ~0u)
        emit(f, BPF_ALU | BPF_AND | BPF_K, 0, 0, abi->number_mask);
}

/* number == each of list: return ret. */
static void return_for(struct vs_filter *f, const int *list, size_t max, uint32_t ret)
{
    for (size_t i = 0; i < max && list[i] != 0; i++) {
        emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (uint32_t)list[i]);
        emit(f, BPF_RET | BPF_K, 0, 0, ret);
    }
}

/* number == nr and (arg 0 & flag): EPERM. Leaves the number loaded again. */
static void deny_flag(struct vs_filter *f, const struct abi *abi, int nr, uint32_t flag)
{
    emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, 3, (uint32_t)nr);
    emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG0_LOW);
    emit(f, BPF_JMP | BPF_JSET | BPF_K, 0, 1, flag);
    emit(f, BPF_RET | BPF_K, 0, 0, RET_ERRNO(EPERM));
    load_number(f, abi);
}

void vs_filter_build(struct vs_filter *f, int policy, int userns)
{
    uint16_t jump_at[ABI_COUNT];

    f->len = 0;
    emit(f, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    for (size_t i = 0; i < ABI_COUNT; i++) {
        emit(f, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, abis[i].arch);
        jump_at[i] = f->len;
        emit(f, BPF_JMP | BPF_JA, 0, 0, 0); /* to its block, filled in below */
    }
    emit(f, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);

    for (size_t i = 0; i < ABI_COUNT; i++) {
        const struct abi *abi = &abis[i];

        f->insns[jump_at[i]].k = (uint32_t)(f->len - jump_at[i] - 1);
        load_number(f, abi);
        return_for(f, abi->kexec, sizeof abi->kexec / sizeof abi->kexec[0], RET_ERRNO(EPERM));
        if (policy != VS_SECCOMP_UNCONFINED) {
            return_for(f, abi->denied, sizeof abi->denied / sizeof abi->denied[0], RET_ERRNO(EPERM));
            if (!userns) {
                return_for(f, abi->keyrings, sizeof abi->keyrings / sizeof abi->keyrings[0], RET_ERRNO(EPERM));
                return_for(f, &abi->clone3, 1, RET_ERRNO(ENOSYS));
                deny_flag(f, abi, abi->unshare, CLONE_NEWUSER);
                deny_flag(f, abi, abi->clone, CLONE_NEWUSER);
            }
        }
        emit(f, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
    }
}

int vs_child_confine(const struct vs_filter *filter, struct vs_error *error)
{
    struct sock_fprog program = {.len = filter->len, .filter = (struct sock_filter *)filter->insns};

    /* A new anonymous session keyring, owned by who we are now (root of the guest's user namespace, if any): no key
     * of the host's session (vserverd's, or the caller's of exec) or of another guest is reachable through it.
     * Without CONFIG_KEYS (ENOSYS) there is nothing to isolate, and EPERM means a filter around vserverd itself denies
     * the keyring calls (systemd-nspawn's does), which the guest inherits with it: no keyring is reachable. */
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, (char *)NULL) < 0 && errno != ENOSYS && errno != EPERM)
        return vs_set_error(error, "join a new session keyring", NULL, NULL, errno);
    /* Without no_new_privs: the child still has CAP_SYS_ADMIN (in its own user namespace at least), and guests need
     * their setuid programs. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0)
        return vs_set_error(error, "install seccomp filter", NULL, NULL, errno);
    return 0;
}
