#include "CSBLinux.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

const uint32_t CSBLinux_EPOLLIN = EPOLLIN;
const uint32_t CSBLinux_EPOLLOUT = EPOLLOUT;
const uint32_t CSBLinux_EPOLLERR = EPOLLERR;
const uint32_t CSBLinux_EPOLLHUP = EPOLLHUP;
const uint32_t CSBLinux_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t CSBLinux_EPOLLET = EPOLLET;
const int CSBLinux_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CSBLinux_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CSBLinux_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

_Static_assert(sizeof(uint64_t) == sizeof(((struct epoll_event *)0)->data.u64), "epoll data is 64-bit");

int CSBLinux_errno(void) { return errno; }

int CSBLinux_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int CSBLinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int CSBLinux_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n;
    do { n = epoll_wait(epfd, evs, max, timeout_ms); } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) { events[i] = evs[i].events; data[i] = evs[i].data.u64; }
    return n;
}

int CSBLinux_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int CSBLinux_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do { r = write(fd, &one, sizeof one); } while (r < 0 && errno == EINTR);
    return (r == sizeof one || (r < 0 && errno == EAGAIN)) ? 0 : -1;
}

int CSBLinux_eventfd_drain(int fd) {
    uint64_t v;
    ssize_t r;
    do { r = read(fd, &v, sizeof v); } while (r < 0 && errno == EINTR);
    return r == sizeof v ? 0 : -1;
}

const int CSBLinux_SIGHUP = SIGHUP;

int CSBLinux_signalfd_term_int(int with_hangup) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (with_hangup) sigaddset(&set, SIGHUP);
    // Block in this thread before any other thread starts, so every thread inherits the mask
    // and the signals are only ever seen through the fd.
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int CSBLinux_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t r;
    do { r = read(fd, &info, sizeof info); } while (r < 0 && errno == EINTR);
    if (r == sizeof info) return (int)info.ssi_signo;
    if (r < 0 && errno == EAGAIN) return 0;
    return -1;
}

static int fill_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof *in4;
        return AF_INET;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return AF_INET6;
    }
    return -1;
}

int CSBLinux_listen_tcp(const char *host, int port, int backlog, int reuseport) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family = fill_addr(host, port, &ss, &len);
    if (family < 0) return -EINVAL;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno; close(fd); return -e;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) { int e = errno; close(fd); return -e; }
    if (listen(fd, backlog) < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

int CSBLinux_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int CSBLinux_accept(int fd, char *ip, size_t iplen) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int c;
    do { c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC); } while (c < 0 && errno == EINTR);
    if (c < 0) return -errno;
    if (ip && iplen > 0) {
        ip[0] = 0;
        if (ss.ss_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, (socklen_t)iplen);
        else if (ss.ss_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, (socklen_t)iplen);
    }
    return c;
}

int CSBLinux_connect_tcp(const char *host, int port) {
    struct sockaddr_storage ss;
    socklen_t len;
    int family = fill_addr(host, port, &ss, &len);
    if (family < 0) return -EINVAL;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) { int e = errno; close(fd); return -e; }
    return fd;
}

int CSBLinux_set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int CSBLinux_set_keepalive(int fd, int idle, int interval, int count) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) < 0) return -1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) < 0) return -1;
    return 0;
}

int CSBLinux_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int CSBLinux_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

#include <sys/resource.h>
long CSBLinux_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    }
    return (long)rl.rlim_cur;
}

long CSBLinux_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    return rl.rlim_cur == RLIM_INFINITY ? (long)1 << 30 : (long)rl.rlim_cur;
}

int CSBLinux_reserve_fd(void) {
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int CSBLinux_notify(const char *path, const char *message, size_t length) {
    struct sockaddr_un addr;
    size_t path_length = strlen(path);
    if (path_length < 2 || path_length > sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) return -EINVAL;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, path_length);
    if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: the name is not NUL-terminated
    socklen_t addr_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    ssize_t sent;
    do { sent = sendto(fd, message, length, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_length); } while (sent < 0 && errno == EINTR);
    int result = sent < 0 ? -errno : 0;
    close(fd);
    return result;
}
