/*
 * The seccomp filter every guest's PID 1 gets before its exec (and every process of the guest inherits): kexec_load
 * and kexec_file_load fail with EPERM.
 *
 * Why: guests keep CAP_SYS_BOOT, so that reboot and poweroff inside work as on a machine. In a pid namespace of its
 * own, reboot(2) only ends that namespace's init (the kernel's reboot_pid_ns: as if by SIGHUP for a restart, SIGINT
 * for poweroff or halt), which is how vserverd tells the two apart. But for a guest without a user namespace the
 * same capability would also let it load a new kernel for the host to boot (kexec_load checks CAP_SYS_BOOT against
 * the host's user namespace). Nothing else in the kernel asks for CAP_SYS_BOOT.
 *
 * Only syscalls and a filter on the stack: this runs in the child between clone and exec.
 */
#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOAD_ARCH BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
/* The next instruction is taken when the value matches, else the one after it. Jump offsets count the
 * instructions skipped. */
#define IF_EQUAL(value) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (value), 0, 1)
#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define DENY BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

/* Each syscall number on every ABI a process of this architecture can call: the compat ones too. */
static const struct sock_filter deny_kexec[] = {
    LOAD_ARCH,
#if defined(__x86_64__)
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 11, 0),   /* to its LOAD_NR */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 14), /* else to the last ALLOW */
    LOAD_NR,
    IF_EQUAL(246), DENY,                     /* kexec_load */
    IF_EQUAL(320), DENY,                     /* kexec_file_load */
    IF_EQUAL(0x40000000 | 528), DENY,        /* x32 kexec_load */
    IF_EQUAL(0x40000000 | 320), DENY,        /* x32 kexec_file_load */
    ALLOW,
    LOAD_NR,                                 /* i386 */
    IF_EQUAL(283), DENY,                     /* kexec_load */
    ALLOW,
#elif defined(__aarch64__)
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_ARM, 7, 0),     /* to its LOAD_NR */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 0, 12), /* else to the last ALLOW */
    LOAD_NR,
    IF_EQUAL(104), DENY,                     /* kexec_load */
    IF_EQUAL(294), DENY,                     /* kexec_file_load */
    ALLOW,
    LOAD_NR,                                 /* arm (compat) */
    IF_EQUAL(347), DENY,                     /* kexec_load */
    IF_EQUAL(401), DENY,                     /* kexec_file_load */
    ALLOW,
#else
#error "add this architecture's kexec_load and kexec_file_load numbers"
#endif
    ALLOW,
};

int vs_child_deny_kexec(struct vs_error *error)
{
    struct sock_fprog program = {
        .len = (unsigned short)(sizeof deny_kexec / sizeof deny_kexec[0]),
        .filter = (struct sock_filter *)deny_kexec,
    };

    /* Without no_new_privs: the child still has CAP_SYS_ADMIN (in its own user namespace at least), and guests need
     * their setuid programs. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) < 0)
        return vs_set_error(error, "install seccomp filter", NULL, NULL, errno);
    return 0;
}
