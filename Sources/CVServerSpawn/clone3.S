/*
 * long vs_clone3_call(struct vs_clone_args *args, size_t size, int (*fn)(void *), void *arg)
 *
 * clone3 with a function to run on the child's own stack, as glibc's internal __clone3 (not exported) does it: with
 * CLONE_VM the child returns from the system call on the stack args->stack points to, where no C frame exists to
 * return to, so it has to start right here. spawn.c uses it for the CLONE_VM|CLONE_VFORK start that also needs
 * clone3's CLONE_INTO_CGROUP (glibc's clone() has no cgroup field). Returns the child's PID, or -errno.
 */
#if defined(__x86_64__)
    .text
    .globl vs_clone3_call
    .type vs_clone3_call, @function
vs_clone3_call:
    mov %rcx, %r8           /* arg: r8 survives the syscall (rcx and r11 do not) */
    mov $435, %eax          /* __NR_clone3 */
    syscall
    test %rax, %rax
    jz 1f
    ret                     /* the parent: the child's PID, or -errno */
1:
    xor %ebp, %ebp          /* the child: outermost frame */
    and $-16, %rsp          /* the psABI's stack alignment */
    mov %r8, %rdi
    call *%rdx              /* rdx (fn) survives the syscall too */
    mov %eax, %edi
    mov $60, %eax           /* __NR_exit */
    syscall
    hlt
    .size vs_clone3_call, .-vs_clone3_call
#elif defined(__aarch64__)
    .text
    .globl vs_clone3_call
    .type vs_clone3_call, %function
vs_clone3_call:
    mov x11, x2             /* fn */
    mov x12, x3             /* arg */
    mov x8, #435            /* __NR_clone3 */
    svc #0
    cbz x0, 1f
    ret
1:
    mov x29, #0
    mov x0, x12
    blr x11
    mov x8, #93             /* __NR_exit */
    svc #0
    brk #0
    .size vs_clone3_call, .-vs_clone3_call
#else
#error "add this architecture's clone3 trampoline"
#endif
    .section .note.GNU-stack,"",%progbits
