/*
 * The old disk's booby trap, listed in its /etc/ld.so.preload: the dynamic loader
 * maps it into every program started on that system (or in a chroot of it), and its
 * constructor leaves a marker in /tmp, /dev/shm and /var/tmp. Nothing else.
 *
 * Built with -nostdlib and raw syscalls so it loads under any glibc. If a marker ever
 * appears, something executed a program from the old disk: a rescue must never do so.
 */
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define O_WRONLY 01
#define O_CREAT 0100
#define O_APPEND 02000

static long sc3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return r;
}

static void mark(const char *path)
{
    static const char msg[] = "vpsrescue booby trap fired: ld.so.preload\n";
    long fd = sc3(SYS_open, (long)path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        sc3(SYS_write, fd, (long)msg, sizeof msg - 1);
        sc3(SYS_close, fd, 0, 0);
    }
}

__attribute__((constructor)) static void fire(void)
{
    mark("/tmp/vpsr-boobytrap-fired");
    mark("/dev/shm/vpsr-boobytrap-fired");
    mark("/var/tmp/vpsr-boobytrap-fired");
}
