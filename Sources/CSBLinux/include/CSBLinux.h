#ifndef CSBLINUX_H
#define CSBLINUX_H
// Thin C shims for what Swift cannot see or call directly on Linux: variadic fcntl, EPOLL* and
// SOCK_* macros, signalfd/eventfd/timerfd, sockaddr juggling. Every name starts with CSBLinux_.
// Only SBEventLoop imports this module.
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/epoll.h>

extern const uint32_t CSBLinux_EPOLLIN;
extern const uint32_t CSBLinux_EPOLLOUT;
extern const uint32_t CSBLinux_EPOLLERR;
extern const uint32_t CSBLinux_EPOLLHUP;
extern const uint32_t CSBLinux_EPOLLRDHUP;
extern const uint32_t CSBLinux_EPOLLET;

int CSBLinux_epoll_create(void);
int CSBLinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
// Fills parallel arrays so Swift never touches the packed struct epoll_event.
int CSBLinux_epoll_wait(int epfd, uint32_t *events, uint64_t *data, int max, int timeout_ms);
extern const int CSBLinux_EPOLL_CTL_ADD;
extern const int CSBLinux_EPOLL_CTL_MOD;
extern const int CSBLinux_EPOLL_CTL_DEL;

int CSBLinux_eventfd(void);
int CSBLinux_eventfd_signal(int fd);
int CSBLinux_eventfd_drain(int fd);

// Blocks SIGTERM/SIGINT (and SIGHUP when with_hangup), ignores SIGPIPE, and returns a signalfd
// for the blocked signals.
int CSBLinux_signalfd_term_int(int with_hangup);
extern const int CSBLinux_SIGHUP;
// Reads one signal from a signalfd; returns the signal number, 0 when none, -1 on error.
int CSBLinux_signalfd_read(int fd);

// Listening TCP socket, non-blocking, close-on-exec, SO_REUSEADDR (+ SO_REUSEPORT when reuseport).
// host is a numeric IPv4/IPv6 address. Returns fd or -errno.
int CSBLinux_listen_tcp(const char *host, int port, int backlog, int reuseport);
// The port a socket is bound to, or -1.
int CSBLinux_local_port(int fd);
// accept4(SOCK_NONBLOCK|SOCK_CLOEXEC); writes the peer address as text into ip (>= 64 bytes).
int CSBLinux_accept(int fd, char *ip, size_t iplen);
// Non-blocking connect to a numeric host; returns fd (connect in progress or done) or -errno.
int CSBLinux_connect_tcp(const char *host, int port);
int CSBLinux_set_nodelay(int fd);
// SO_KEEPALIVE with the probe timing (idle seconds, interval seconds, count); 0 or -1.
int CSBLinux_set_keepalive(int fd, int idle, int interval, int count);
int CSBLinux_set_nonblocking(int fd);
int CSBLinux_socket_error(int fd);

int CSBLinux_errno(void);
// Raises the soft open-file limit to the hard one (a hub holds many sockets); returns it.
long CSBLinux_raise_nofile(void);
// The current soft open-file limit, or -1.
long CSBLinux_nofile_limit(void);
// A spare descriptor (/dev/null, CLOEXEC) kept so that, out of descriptors, a listener can still
// accept a connection to refuse it. Returns fd or -1.
int CSBLinux_reserve_fd(void);

// sd_notify without libsystemd: sends `message` (length bytes) as one datagram to the AF_UNIX
// socket `path` ($NOTIFY_SOCKET: a file path, or an abstract name written with a leading '@').
// Returns 0, or -errno (-EINVAL for a path that is not '/…' or '@…' or does not fit).
int CSBLinux_notify(const char *path, const char *message, size_t length);
#endif
