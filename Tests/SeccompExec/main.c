// spindle-seccomp-exec: runs a program the way Docker's default seccomp profile would, as far
// as io_uring is concerned. Test-only (not a library product).
//
//   spindle-seccomp-exec [--] <program> [arguments...]
//
// Installs a seccomp filter that makes io_uring_setup, io_uring_enter and io_uring_register
// fail with EPERM and allows every other system call of this architecture, then execvp()s
// <program> with <arguments>. A system call made with another architecture's calling
// convention (i386 `int 0x80` or x32 on x86_64, AArch32 on arm64) kills the process, as
// libseccomp-built profiles such as Docker's do for an architecture they do not list: these
// checks compare this architecture's system call numbers and cannot judge another's. (Docker's
// profile lists i386 and x32 beside x86_64 and denies io_uring there too; this one refuses them.)
//
// Invariant: a seccomp filter cannot be removed once installed. It is kept across execve and
// inherited by every thread and child the program creates later (this process is single-
// threaded when it installs it), so everything <program> runs is under it.
//
// Exit status, as env(1): 125 when the filter cannot be installed (or bad usage), 126 when
// <program> was found but cannot be run, 127 when it was not found; otherwise <program>'s own.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define SPINDLE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SPINDLE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "spindle-seccomp-exec knows the audit architecture of x86_64 and aarch64 only"
#endif

#if !defined(__NR_io_uring_setup) || !defined(__NR_io_uring_enter) || !defined(__NR_io_uring_register)
#error "the kernel headers lack the io_uring system call numbers (Linux 5.1+ headers are needed)"
#endif

static const char *const me = "spindle-seccomp-exec";

/// The filter: check the architecture, then deny the three io_uring calls, allow the rest.
static int install_filter(void) {
    struct sock_filter program[] = {
        // Only this architecture's system call numbers mean what the checks below assume.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SPINDLE_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        // x32 calls share AUDIT_ARCH_X86_64 but set this bit in the number (io_uring_setup
        // would arrive as 425 | bit and slip past the checks below).
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    struct sock_fprog fprog = {
        .len = (unsigned short)(sizeof(program) / sizeof(program[0])),
        .filter = program,
    };
    // Lets an unprivileged process install a filter; it also keeps set-user-ID programs from
    // gaining privileges under it, which is what makes that safe.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        fprintf(stderr, "%s: prctl(PR_SET_NO_NEW_PRIVS) failed: %s\n", me, strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) != 0) {
        int code = errno;
        fprintf(stderr, "%s: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER) failed: %s%s\n", me, strerror(code),
                code == EINVAL ? " (kernel built without CONFIG_SECCOMP_FILTER?)" : "");
        return -1;
    }
    return 0;
}

static void usage(FILE *to) {
    fprintf(to,
            "usage: %s [--] <program> [arguments...]\n"
            "Runs <program> with io_uring_setup, io_uring_enter and io_uring_register failing with\n"
            "EPERM (as under Docker's default seccomp profile); every other system call is allowed.\n",
            me);
}

int main(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    int first = 1;
    if (first < argc && strcmp(argv[first], "--") == 0) first += 1;
    if (first >= argc || (first == 1 && argv[1][0] == '-')) {
        if (first < argc) fprintf(stderr, "%s: unknown option %s (a program whose name starts with '-' goes after --)\n", me, argv[1]);
        usage(stderr);
        return 125;
    }
    if (install_filter() != 0) return 125;
    execvp(argv[first], argv + first);
    int code = errno;
    fprintf(stderr, "%s: cannot run %s: %s\n", me, argv[first], strerror(code));
    return code == ENOENT ? 127 : 126;
}
