/*
 * wsload - load generator for the Switchboard event hub.
 *
 *   wsload fanout  publish events over HTTP and measure their WebSocket delivery
 *   wsload idle    hold many subscribed WebSocket connections, measure server RSS
 *
 * One thread, one epoll set, level-triggered. Every connection shares one big
 * read buffer; only the unparsed tail of a read (a partial frame or response)
 * is kept per connection, so idle connections cost almost nothing here and the
 * hot path does no malloc. Messages are inspected with memmem, never parsed as
 * JSON, because the tool shares the CPU with the server under test.
 *
 * This copy (Switchboard's Scripts/bench/wsload) adds TLS: wss:// and https:// URLs go
 * through OpenSSL on the same non-blocking sockets (SSL_set_fd; TLS 1.2+, no certificate
 * verification: loopback benchmarks only). And permessage-deflate: with --deflate every
 * subscriber offers it (and fails if the server does not agree), compressed messages are
 * inflated with zlib before they are checked, and the report gives the bytes on the wire per
 * delivery; --pad-words pads events with words instead of one repeated byte, so that they
 * compress like real JSON text. Build: cc -O2 wsload.c -lssl -lcrypto -lz.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#define MAX_URLS 64
#define MAX_FRAME (16u << 20)   /* refuse frames larger than 16 MiB */
#define MAX_HEAD (64u << 10)    /* refuse HTTP heads larger than 64 KiB */
#define READ_CHUNK (256u << 10)

/* ---------- small helpers ---------- */

static void die(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("wsload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die(2, "out of memory");
    return q;
}

typedef struct { char *p; size_t len, cap; } buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(buf_t *b, const void *d, size_t n) {
    if (!n) return;
    buf_reserve(b, n);
    memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void buf_free(buf_t *b) { free(b->p); b->p = NULL; b->len = b->cap = 0; }

/* xorshift64*: masking keys and handshake nonces only need to be cheap and varied */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static void b64(const unsigned char *in, size_t n, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63]; out[o++] = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = t[v >> 18]; out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
}

/* Find `"key"` followed by optional whitespace and ':'; return the value start. */
static const char *json_value(const char *s, size_t len, const char *qkey, size_t klen) {
    const char *end = s + len, *p = s;
    while (p < end) {
        const char *k = memmem(p, (size_t)(end - p), qkey, klen);
        if (!k) return NULL;
        p = k + klen;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        if (p < end && *p == ':') {
            p++;
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
            return p;
        }
    }
    return NULL;
}

/* Parse a JSON number as uint64; tolerate a re-serialized "1.2e15" form. */
static bool json_u64(const char *p, const char *end, uint64_t *out) {
    uint64_t v = 0;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (uint64_t)(*q++ - '0');
    if (q == p) return false;
    if (q < end && (*q == '.' || *q == 'e' || *q == 'E')) v = (uint64_t)strtod(p, NULL);
    *out = v;
    return true;
}

/* ---------- latency histogram: log-linear, 64 sub-buckets per power of two (~1.6%) ---------- */

#define H_SUB 64
#define H_BUCKETS (60 * H_SUB)
static uint64_t hist[H_BUCKETS], hist_n, hist_max_us;

static void hist_add(uint64_t us) {
    unsigned idx;
    if (us < H_SUB) idx = (unsigned)us;
    else {
        unsigned e = 63u - (unsigned)__builtin_clzll(us);          /* >= 6 */
        idx = (e - 5) * H_SUB + (unsigned)((us >> (e - 6)) & (H_SUB - 1));
    }
    hist[idx]++;
    hist_n++;
    if (us > hist_max_us) hist_max_us = us;
}

/* value at quantile q, as the midpoint of the bucket that holds it (microseconds) */
static double hist_q(double q) {
    if (!hist_n) return 0;
    uint64_t want = (uint64_t)(q * (double)hist_n), seen = 0;
    if (want >= hist_n) want = hist_n - 1;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        seen += hist[i];
        if (seen > want) {
            if (i < H_SUB) return i;
            unsigned e = i / H_SUB + 5, sub = i % H_SUB;
            double lo = (double)((uint64_t)(H_SUB + sub) << (e - 6));
            double mid = lo + (double)(1ull << (e - 6)) / 2.0;
            return mid > (double)hist_max_us ? (double)hist_max_us : mid;
        }
    }
    return (double)hist_max_us;
}

/* ---------- URLs: loopback only ---------- */

typedef struct {
    struct sockaddr_storage sa;
    socklen_t salen;
    char hostport[96]; /* for the Host header */
    char path[256];
    bool tls;             /* wss:// or https:// */
} url_t;

static SSL_CTX *tls_ctx;

static void tls_init(void) {
    if (tls_ctx) return;
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) die(2, "SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL); /* loopback benchmark: no trust decisions */
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
    SSL_CTX_set_alpn_protos(tls_ctx, alpn, sizeof alpn);
}

static void parse_url(const char *s, bool ws, url_t *u) {
    const char *scheme = ws ? "ws://" : "http://", *tls_scheme = ws ? "wss://" : "https://";
    u->tls = strncmp(s, tls_scheme, strlen(tls_scheme)) == 0;
    if (u->tls) { scheme = tls_scheme; tls_init(); }
    if (strncmp(s, scheme, strlen(scheme)) != 0)
        die(2, "URL '%s' must start with %s or %s", s, ws ? "ws://" : "http://", tls_scheme);
    const char *h = s + strlen(scheme), *he, *rest;
    char host[64];
    if (*h == '[') {
        he = strchr(h, ']');
        if (!he) die(2, "bad URL '%s'", s);
        snprintf(host, sizeof host, "%.*s", (int)(he - h - 1), h + 1);
        rest = he + 1;
    } else {
        he = h + strcspn(h, ":/?");
        snprintf(host, sizeof host, "%.*s", (int)(he - h), h);
        rest = he;
    }
    int port = u->tls ? 443 : 80;
    if (*rest == ':') {
        port = atoi(rest + 1);
        rest += 1 + strspn(rest + 1, "0123456789");
    }
    if (port <= 0 || port > 65535) die(2, "bad port in URL '%s'", s);
    snprintf(u->hostport, sizeof u->hostport, "%.*s", (int)(rest - h), h);
    snprintf(u->path, sizeof u->path, "%s", *rest ? rest : "/");
    memset(&u->sa, 0, sizeof u->sa);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&u->sa;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&u->sa;
    if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1 && (ntohl(a4->sin_addr.s_addr) >> 24) == 127) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        u->salen = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1 && IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr)) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        u->salen = sizeof *a6;
    } else {
        die(2, "refusing URL '%s': only loopback hosts (127.x.x.x, localhost, ::1) are allowed", s);
    }
}

/* ---------- options ---------- */

static struct {
    url_t sub[MAX_URLS], pub[MAX_URLS];
    int nsub, npub;
    int subs, sessions, size, pub_conns, pipeline, ramp, conns;
    double rate, duration, drain, hold, setup_timeout;
    const char *api_key, *prefix;
    bool json, check, retry, deflate, pad_words;
    long pid;
} opt = {
    .subs = 1000, .sessions = 0, .size = 200, .pub_conns = 4, .pipeline = 1, .ramp = 256,
    .conns = 10000, .duration = 10, .drain = 3, .hold = 5, .setup_timeout = 60, .prefix = "bench-",
};

/* ---------- connections ---------- */

enum { K_SUB, K_PUB };
enum { S_NEW, S_CONNECTING, S_TLS, S_HANDSHAKE, S_SUBSCRIBING, S_READY, S_CLOSED };

typedef struct { int session; uint64_t n; } inflight_t;

typedef struct conn {
    int fd, kind, idx, state;
    uint32_t gen;          /* packed into epoll data: stale events for a reused slot are dropped */
    bool want_out;         /* EPOLLOUT armed */
    const url_t *url;
    SSL *ssl;              /* set for wss:// and https:// once connected */
    buf_t in, out;         /* unparsed tail of input; unsent output */
    /* subscriber */
    int session;
    uint64_t last_n, unique;
    buf_t frag;            /* fragmented message being reassembled (rare) */
    int frag_op;
    bool frag_rsv1;        /* that message is compressed */
    size_t frag_wire;      /* its bytes on the wire so far */
    /* publisher */
    int *sess, nsess, rr;
    inflight_t *fifo;
    int fhead, fcount;
    bool until_close;      /* response body is delimited by EOF */
    int close_status;
    bool retry_pending;
    inflight_t retry_ev;
    uint64_t reconnect_at, not_before;
} conn_t;

typedef struct { char name[80]; int namelen; char quoted[84]; int qlen; uint64_t next_n, ok; } session_t;

static int ep;
static conn_t *subs, *pubs;
static int nsubs, npubs;
static session_t *sessions;
static char *rbuf;
static size_t rcap;
static volatile sig_atomic_t interrupted;

/* statistics */
static uint64_t st_ready, st_failed, st_pending, st_closed_by_server;
static uint64_t st_delivered, st_unique, st_dup, st_ooo, st_gaps, st_foreign, st_other;
static uint64_t st_attempts, st_ok, st_non2xx, st_noresp, st_conn_err, st_429, st_5xx, st_abandoned;
static uint64_t t_first_pub, t_last_delivery, t_pub_end;
/* bytes on the wire (frame headers included) of the delivered event messages; how many came compressed */
static uint64_t st_wire_bytes, st_compressed;
static bool publishing;

static void on_sigint(int s) { (void)s; interrupted = 1; }

static void ep_set(conn_t *c, int op, uint32_t events) {
    struct epoll_event ev = { .events = events };
    ev.data.u64 = (uint64_t)c->gen << 32 | (uint64_t)c->kind << 31 | (uint32_t)c->idx;
    if (epoll_ctl(ep, op, c->fd, &ev) < 0) die(2, "epoll_ctl: %s", strerror(errno));
}

static void conn_close(conn_t *c) {
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
    if (c->fd >= 0) close(c->fd);   /* close() also removes it from the epoll set */
    c->fd = -1;
    c->state = S_CLOSED;
    c->gen++;
    c->in.len = c->out.len = 0;
    c->want_out = false;
    c->until_close = false;
    buf_free(&c->frag);
}

/* Start a non-blocking connect. Returns false (errno set) if it failed at once. */
static bool conn_open(conn_t *c) {
    c->fd = socket(c->url->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return false;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->gen++;
    if (connect(c->fd, (const struct sockaddr *)&c->url->sa, c->url->salen) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        errno = e;
        return false;
    }
    c->state = S_CONNECTING;
    c->want_out = true;
    ep_set(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
    return true;
}

/* Write queued bytes now; arm EPOLLOUT only if the kernel pushed back. */
static bool conn_flush(conn_t *c) {
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n;
        if (c->ssl) {
            /* After WANT_WRITE the same bytes go again, from the head of `out` (which may have
             * moved and grown since: allowed by SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
            size_t wrote = 0;
            ERR_clear_error();
            if (SSL_write_ex(c->ssl, c->out.p + off, c->out.len - off, &wrote) == 1) {
                n = (ssize_t)wrote;
            } else {
                int e = SSL_get_error(c->ssl, 0);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) break;
                return false;
            }
        } else {
            n = send(c->fd, c->out.p + off, c->out.len - off, MSG_NOSIGNAL);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            return false;
        }
        off += (size_t)n;
    }
    if (off) {
        memmove(c->out.p, c->out.p + off, c->out.len - off);
        c->out.len -= off;
    }
    bool want = c->out.len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        ep_set(c, EPOLL_CTL_MOD, EPOLLIN | (want ? EPOLLOUT : 0));
    }
    return true;
}

/* ---------- WebSocket subscriber ---------- */

static void ws_queue(conn_t *c, int op, const void *data, size_t n) {
    unsigned char h[8];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (n < 126) h[1] = (unsigned char)(0x80 | n);
    else { h[1] = 0x80 | 126; h[2] = (unsigned char)(n >> 8); h[3] = (unsigned char)n; hl = 4; } /* n < 64K */
    uint32_t key = (uint32_t)rng();
    unsigned char *m = (unsigned char *)&key;
    buf_put(&c->out, h, hl);
    buf_put(&c->out, m, 4);
    buf_reserve(&c->out, n);
    unsigned char *dst = (unsigned char *)c->out.p + c->out.len;
    for (size_t i = 0; i < n; i++) dst[i] = ((const unsigned char *)data)[i] ^ m[i & 3];
    c->out.len += n;
}

static void sub_failed(conn_t *c, const char *why) {
    if (c->state < S_READY) {
        st_pending--;
        st_failed++;
        if (st_failed <= 5)
            fprintf(stderr, "wsload: subscriber %d (%s) failed during setup: %s\n", c->idx, c->url->hostport, why);
    } else if (c->state == S_READY) {
        st_closed_by_server++;
    }
    conn_close(c);
}

static void sub_send_upgrade(conn_t *c) {
    unsigned char nonce[16];
    char key[32];
    uint64_t a = rng(), b = rng();
    memcpy(nonce, &a, 8);
    memcpy(nonce + 8, &b, 8);
    b64(nonce, 16, key);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     c->url->path, c->url->hostport, key, opt.api_key ? "x-api-key: " : "",
                     opt.api_key ? opt.api_key : "", opt.api_key ? "\r\n" : "",
                     opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
    buf_put(&c->out, req, (size_t)n);
    c->state = S_HANDSHAKE;
}

/* permessage-deflate: one raw inflate stream for every connection, reset per message (the
   servers under test agree to server_no_context_takeover, so no message needs an earlier one). */
static z_stream zin;
static buf_t zsrc, zdst;

static bool inflate_message(const char *p, size_t n, const char **out, size_t *outlen) {
    static bool ready;
    if (!ready) {
        if (inflateInit2(&zin, -15) != Z_OK) die(2, "inflateInit2 failed");
        ready = true;
    }
    zsrc.len = 0;
    buf_put(&zsrc, p, n);
    buf_put(&zsrc, "\x00\x00\xff\xff", 4);
    zdst.len = 0;
    zin.next_in = (unsigned char *)zsrc.p;
    zin.avail_in = (unsigned)zsrc.len;
    for (;;) {
        buf_reserve(&zdst, 64 << 10);
        zin.next_out = (unsigned char *)zdst.p + zdst.len;
        zin.avail_out = (unsigned)(zdst.cap - zdst.len);
        int rc = inflate(&zin, Z_SYNC_FLUSH);
        zdst.len = zdst.cap - zin.avail_out;
        if (rc == Z_STREAM_END || ((rc == Z_OK || rc == Z_BUF_ERROR) && zin.avail_in == 0 && zin.avail_out > 0)) break;
        if ((rc != Z_OK && rc != Z_BUF_ERROR) || zdst.len > MAX_FRAME) { inflateReset(&zin); return false; }
    }
    inflateReset(&zin);
    *out = zdst.p;
    *outlen = zdst.len;
    return true;
}

static void sub_message(conn_t *c, const char *m, size_t len, uint64_t now, bool compressed, size_t wire) {
    if (compressed && !inflate_message(m, len, &m, &len)) { sub_failed(c, "invalid compressed message"); return; }
    session_t *s = &sessions[c->session];
    if (c->state == S_SUBSCRIBING) {
        /* the greeting is also a subscription_confirmed, but carries no sessionId */
        const char *v = json_value(m, len, "\"sessionId\"", 11);
        if (memmem(m, len, "subscription_confirmed", 22) && v && (size_t)(m + len - v) >= (size_t)s->qlen &&
            memcmp(v, s->quoted, (size_t)s->qlen) == 0) {
            c->state = S_READY;
            st_pending--;
            st_ready++;
        }
        return;
    }
    if (c->state != S_READY) return;
    const char *end = m + len, *v = json_value(m, len, "\"wsl_n\"", 7);
    uint64_t n, t;
    if (!v || !json_u64(v, end, &n)) { st_other++; return; }
    v = json_value(m, len, "\"wsl_t\"", 7);
    if (v && json_u64(v, end, &t)) hist_add(now > t ? (now - t) / 1000 : 0);
    if (!memmem(m, len, s->quoted, (size_t)s->qlen)) st_foreign++; /* event of a session not subscribed */
    st_delivered++;
    st_wire_bytes += wire;
    if (compressed) st_compressed++;
    t_last_delivery = now;
    if (n > c->last_n) {
        if (n != c->last_n + 1) st_gaps++;
        c->last_n = n;
        c->unique++;
        st_unique++;
    } else if (n == c->last_n) {
        st_dup++;
    } else {
        st_ooo++;
    }
}

/* Parse complete frames in d[0..len); returns bytes consumed. */
static size_t ws_parse(conn_t *c, char *d, size_t len, uint64_t now) {
    size_t off = 0;
    while (c->fd >= 0 && len - off >= 2) {
        const unsigned char *h = (const unsigned char *)d + off;
        int fin = h[0] & 0x80, op = h[0] & 0x0f, masked = h[1] & 0x80, rsv1 = h[0] & 0x40;
        uint64_t plen = h[1] & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = plen << 8 | h[2 + i];
            hl = 10;
        }
        if (plen > MAX_FRAME) { sub_failed(c, "frame too large"); break; }
        if (masked) hl += 4;
        if (len - off < hl + plen) break;
        char *p = d + off + hl;
        if (masked)
            for (size_t i = 0; i < plen; i++) p[i] ^= (char)h[hl - 4 + (i & 3)];
        off += hl + plen;
        if (rsv1 && !(op == 0x1 || op == 0x2)) { sub_failed(c, "RSV1 on a control or continuation frame"); break; }
        switch (op) {
        case 0x1: case 0x2:
            if (fin) sub_message(c, p, plen, now, rsv1, hl + plen);
            else { c->frag.len = 0; c->frag_op = op; c->frag_rsv1 = rsv1; c->frag_wire = hl + plen; buf_put(&c->frag, p, plen); }
            break;
        case 0x0:
            buf_put(&c->frag, p, plen);
            c->frag_wire += hl + plen;
            if (c->frag.len > MAX_FRAME) { sub_failed(c, "message too large"); break; }
            if (fin) { sub_message(c, c->frag.p, c->frag.len, now, c->frag_rsv1, c->frag_wire); buf_free(&c->frag); }
            break;
        case 0x8: /* close: echo the status code, then go */
            ws_queue(c, 0x8, p, plen >= 2 ? 2 : 0);
            conn_flush(c);
            sub_failed(c, "closed by server");
            break;
        case 0x9:
            if (plen <= 125) ws_queue(c, 0xA, p, plen);
            break;
        case 0xA:
            break;
        default:
            sub_failed(c, "unknown opcode");
        }
    }
    return off;
}

static size_t sub_input(conn_t *c, char *d, size_t len, uint64_t now) {
    if (c->state != S_HANDSHAKE) return ws_parse(c, d, len, now);
    char *e = memmem(d, len, "\r\n\r\n", 4);
    if (!e) {
        if (len > MAX_HEAD) sub_failed(c, "handshake response too large");
        return 0;
    }
    /* Sec-WebSocket-Accept is not verified: the servers under test are our own */
    if (len < 12 || memcmp(d, "HTTP/1.1 101", 12) != 0) {
        char line[80];
        snprintf(line, sizeof line, "upgrade refused: %.*s", (int)strcspn(d, "\r\n") > 60 ? 60 : (int)strcspn(d, "\r\n"), d);
        sub_failed(c, line);
        return 0;
    }
    size_t hl = (size_t)(e - d) + 4;
    if (opt.deflate && !memmem(d, hl, "permessage-deflate", 18)) {
        sub_failed(c, "--deflate: the server did not agree to permessage-deflate");
        return 0;
    }
    char msg[160];
    session_t *s = &sessions[c->session];
    int n = snprintf(msg, sizeof msg, "{\"type\":\"subscribe\",\"sessionId\":%s}", s->quoted);
    ws_queue(c, 0x1, msg, (size_t)n);
    c->state = S_SUBSCRIBING;
    return hl + ws_parse(c, d + hl, len - hl, now);
}

/* ---------- HTTP publisher ---------- */

static char *pad, *body;
static int pad_len;
static size_t body_cap;

static void pub_fail_inflight(conn_t *c) {
    while (c->fcount > 0) {
        inflight_t ev = c->fifo[c->fhead];
        c->fhead = (c->fhead + 1) % opt.pipeline;
        c->fcount--;
        if (!opt.retry) st_noresp++;          /* sent, but never answered */
        else if (!c->retry_pending) { c->retry_pending = true; c->retry_ev = ev; }
        else st_abandoned++;
    }
}

static void pub_error(conn_t *c, uint64_t now) {
    if (c->fcount > 0 || c->state == S_CONNECTING) st_conn_err++;
    pub_fail_inflight(c);
    conn_close(c);
    c->reconnect_at = now + 20000000ull; /* 20 ms backoff */
}

static void pub_response(conn_t *c, int status) {
    if (c->fcount == 0) { st_non2xx++; return; } /* unsolicited response */
    inflight_t ev = c->fifo[c->fhead];
    c->fhead = (c->fhead + 1) % opt.pipeline;
    c->fcount--;
    if (status >= 200 && status < 300) {
        st_ok++;
        sessions[ev.session].ok++;
        return;
    }
    st_non2xx++;
    if (status == 429) st_429++;
    if (status >= 500) st_5xx++;
    if (opt.retry) {
        c->retry_pending = true;
        c->retry_ev = ev;
        c->not_before = now_ns() + 1000000ull; /* 1 ms pause before hammering an overloaded server again */
    }
}

static bool hdr_is(const char *line, const char *end, const char *name) {
    size_t n = strlen(name);
    return (size_t)(end - line) > n && strncasecmp(line, name, n) == 0;
}

static size_t pub_input(conn_t *c, char *d, size_t len) {
    size_t off = 0;
    while (c->fd >= 0 && off < len) {
        char *h = d + off, *end = d + len;
        if (c->until_close) return len; /* swallow until EOF */
        char *e = memmem(h, (size_t)(end - h), "\r\n\r\n", 4);
        if (!e) {
            if ((size_t)(end - h) > MAX_HEAD) pub_error(c, now_ns());
            break;
        }
        if (end - h < 12 || strncmp(h, "HTTP/1.", 7) != 0) { pub_error(c, now_ns()); break; }
        int status = atoi(h + 9);
        long long cl = -1;
        bool chunked = false, close_after = strncmp(h, "HTTP/1.0", 8) == 0;
        /* e+1 is always a '\n', so every memchr below finds one */
        for (char *l = (char *)memchr(h, '\n', (size_t)(e + 2 - h)) + 1; l < e;
             l = (char *)memchr(l, '\n', (size_t)(e + 2 - l)) + 1) {
            char *le = memchr(l, '\r', (size_t)(e + 2 - l));
            if (hdr_is(l, le, "content-length:")) cl = atoll(l + 15);
            else if (hdr_is(l, le, "transfer-encoding:")) chunked = memmem(l, (size_t)(le - l), "chunked", 7) != NULL;
            else if (hdr_is(l, le, "connection:")) {
                if (memmem(l, (size_t)(le - l), "close", 5)) close_after = true;
                if (memmem(l, (size_t)(le - l), "keep-alive", 10)) close_after = false;
            }
        }
        char *body = e + 4, *p = body;
        if (status >= 100 && status < 200) { off = (size_t)(body - d); continue; }
        if (chunked) {
            for (;;) {
                char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
                if (!nl) return off;
                unsigned long sz = strtoul(p, NULL, 16);
                if (sz == 0) {
                    char *t = nl + 2;
                    if (end - t >= 2 && t[0] == '\r' && t[1] == '\n') { p = t + 2; break; }
                    char *te = memmem(t, (size_t)(end - t), "\r\n\r\n", 4);
                    if (!te) return off;
                    p = te + 4;
                    break;
                }
                if ((size_t)(end - nl - 2) < sz + 2) return off;
                p = nl + 2 + sz + 2;
            }
        } else if (cl >= 0) {
            if (end - body < cl) break;
            p = body + cl;
        } else if (status != 204 && status != 304) {
            c->until_close = true; /* no length: the body ends at EOF */
            c->close_status = status;
            return len;
        }
        off = (size_t)(p - d);
        pub_response(c, status);
        if (close_after) { pub_fail_inflight(c); conn_close(c); c->reconnect_at = 0; break; }
    }
    return off;
}

static void iso_now(char out[48]) {
    static time_t cached_sec = -1;
    static char cached[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    snprintf(out, 48, "%s.%03dZ", cached, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void pub_queue_event(conn_t *c, inflight_t ev) {
    char ts[48];
    session_t *s = &sessions[ev.session];
    iso_now(ts);
    int bl = snprintf(body, body_cap,
                      "{\"sessionId\":%s,\"type\":\"bench\",\"timestamp\":\"%s\",\"data\":{\"wsl_n\":%" PRIu64
                      ",\"wsl_t\":%" PRIu64 ",\"pad\":\"%s\"}}",
                      s->quoted, ts, ev.n, now_ns(), pad);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST /api/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n%s%s%s\r\n",
                      c->url->hostport, bl, opt.api_key ? "x-api-key: " : "", opt.api_key ? opt.api_key : "",
                      opt.api_key ? "\r\n" : "");
    buf_put(&c->out, head, (size_t)hl);
    buf_put(&c->out, body, (size_t)bl);
    c->fifo[(c->fhead + c->fcount) % opt.pipeline] = ev;
    c->fcount++;
    st_attempts++;
    if (!t_first_pub) t_first_pub = now_ns();
}

/* Fill idle publisher connections up to the pipeline depth, within the rate budget. */
static void pub_fill(uint64_t now, uint64_t pub_start, bool retries_only) {
    static int start;
    int depth = opt.pipeline;
    for (int k = 0; k < npubs; k++) {
        conn_t *c = &pubs[(start + k) % npubs];
        if (c->state == S_CLOSED && now >= c->reconnect_at) {
            if (!conn_open(c)) { st_conn_err++; c->reconnect_at = now + 20000000ull; }
            continue;
        }
        if (c->state != S_READY || c->nsess == 0) continue;
        while (c->fcount < depth) {
            if (retries_only && !c->retry_pending) break;
            if (c->retry_pending && now < c->not_before) break;
            if (opt.rate > 0 && (double)st_attempts >= opt.rate * (double)(now - pub_start) / 1e9 + 1) break;
            inflight_t ev;
            if (c->retry_pending) { ev = c->retry_ev; c->retry_pending = false; }
            else {
                ev.session = c->sess[c->rr++ % c->nsess];
                ev.n = ++sessions[ev.session].next_n;
            }
            pub_queue_event(c, ev);
        }
        if (c->out.len && !conn_flush(c)) pub_error(c, now);
    }
    start++;
}

/* ---------- the event loop ---------- */

/* recv(2), or SSL_read for a TLS connection: > 0 bytes, 0 EOF, < 0 with errno (EAGAIN: none yet). */
static ssize_t conn_recv(conn_t *c, char *dst, size_t cap) {
    if (!c->ssl) return recv(c->fd, dst, cap, 0);
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(c->ssl, dst, cap, &n) == 1) return (ssize_t)n;
    switch (SSL_get_error(c->ssl, 0)) {
    case SSL_ERROR_WANT_READ: case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    case SSL_ERROR_SYSCALL: if (!errno) return 0; return -1;
    default: errno = EPROTO; return -1;
    }
}

/* The TCP connect finished (or the TLS handshake made progress): true once the connection
 * can carry the protocol. */
static bool conn_tls_step(conn_t *c, bool *failed) {
    *failed = false;
    if (!c->url->tls) return true;
    if (!c->ssl) {
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) { *failed = true; return false; }
        SSL_set_connect_state(c->ssl);
        c->state = S_TLS;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        if (c->want_out) { c->want_out = false; ep_set(c, EPOLL_CTL_MOD, EPOLLIN); }
        return true;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        bool out = e == SSL_ERROR_WANT_WRITE;
        if (out != c->want_out) { c->want_out = out; ep_set(c, EPOLL_CTL_MOD, EPOLLIN | (out ? EPOLLOUT : 0)); }
        return false;
    }
    *failed = true;
    return false;
}

static void conn_ready(conn_t *c, uint64_t now) {
    int kind = c->kind;
    if (kind == K_SUB) sub_send_upgrade(c);
    else c->state = S_READY;
    if (!conn_flush(c)) { kind == K_SUB ? sub_failed(c, "send failed") : pub_error(c, now); }
}

static void handle_event(struct epoll_event *ev, uint64_t now) {
    uint64_t d = ev->data.u64;
    int kind = (int)((d >> 31) & 1), idx = (int)(d & 0x7fffffff);
    conn_t *c = kind == K_SUB ? &subs[idx] : &pubs[idx];
    if ((uint32_t)(d >> 32) != c->gen || c->fd < 0) return; /* stale event for a closed slot */
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev->events & (EPOLLERR | EPOLLHUP))) {
            if (kind == K_SUB) sub_failed(c, strerror(err ? err : ECONNREFUSED));
            else pub_error(c, now);
            return;
        }
        bool failed;
        if (conn_tls_step(c, &failed)) conn_ready(c, now);
        else if (failed) { kind == K_SUB ? sub_failed(c, "TLS handshake failed") : pub_error(c, now); }
        return;
    }
    if (c->state == S_TLS) {
        bool failed;
        if (conn_tls_step(c, &failed)) conn_ready(c, now);
        else if (failed) { kind == K_SUB ? sub_failed(c, "TLS handshake failed") : pub_error(c, now); }
        return;
    }
    if (ev->events & EPOLLOUT) {
        if (!conn_flush(c)) { kind == K_SUB ? sub_failed(c, "send failed") : pub_error(c, now); return; }
    }
    if (!(ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    do {  /* again while OpenSSL holds decrypted bytes epoll cannot announce */
    /* read behind the connection's leftover tail, in the shared buffer */
    size_t have = c->in.len;
    if (rcap < have + READ_CHUNK) { rcap = have + READ_CHUNK; rbuf = xrealloc(rbuf, rcap); }
    if (have) memcpy(rbuf, c->in.p, have);
    ssize_t n = conn_recv(c, rbuf + have, rcap - have);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        if (kind == K_SUB) sub_failed(c, n == 0 ? "connection closed" : strerror(errno));
        else if (c->until_close) {
            int st = c->close_status;
            c->until_close = false;
            pub_response(c, st);
            pub_error(c, now);
        } else pub_error(c, now);
        return;
    }
    size_t len = have + (size_t)n;
    size_t used = kind == K_SUB ? sub_input(c, rbuf, len, now) : pub_input(c, rbuf, len);
    if (c->fd < 0) return;
    c->in.len = 0;
    if (used < len) buf_put(&c->in, rbuf + used, len - used);
    else if (c->in.cap > 4096) buf_free(&c->in); /* give back memory after a big frame */
    if (c->out.len && !conn_flush(c)) { kind == K_SUB ? sub_failed(c, "send failed") : pub_error(c, now); return; }
    } while (c->fd >= 0 && c->ssl && SSL_pending(c->ssl) > 0);
}

static void loop_once(int timeout_ms) {
    static struct epoll_event evs[1024];
    int n = epoll_wait(ep, evs, 1024, timeout_ms);
    if (n < 0 && errno != EINTR) die(2, "epoll_wait: %s", strerror(errno));
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++) handle_event(&evs[i], now);
}

/* ---------- phase 1: open and subscribe ---------- */

static void setup_sessions(int n) {
    sessions = calloc((size_t)n, sizeof *sessions);
    if (!sessions) die(2, "out of memory");
    for (int i = 0; i < n; i++) {
        session_t *s = &sessions[i];
        s->namelen = snprintf(s->name, sizeof s->name, "%s%d", opt.prefix, i);
        s->qlen = snprintf(s->quoted, sizeof s->quoted, "\"%s\"", s->name);
    }
}

/* Opens nsubs subscribers with at most opt.ramp handshakes in flight; returns setup seconds. */
static double open_subscribers(bool fail_hard) {
    uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(opt.setup_timeout * 1e9);
    int next = 0;
    while (st_ready + st_failed < (uint64_t)nsubs) {
        while (next < nsubs && st_pending < (uint64_t)opt.ramp) {
            conn_t *c = &subs[next++];
            st_pending++;
            if (!conn_open(c)) sub_failed(c, strerror(errno));
        }
        if (fail_hard && st_failed) die(2, "%" PRIu64 " subscriber(s) failed during setup", st_failed);
        if (interrupted && fail_hard) die(2, "interrupted during setup");
        if (now_ns() > deadline || interrupted) {
            fprintf(stderr, "wsload: setup %s after %.1f s: %" PRIu64 " of %d subscribers confirmed, %" PRIu64 " failed\n",
                    interrupted ? "interrupted" : "timed out", (double)(now_ns() - t0) / 1e9, st_ready, nsubs, st_failed);
            if (fail_hard) exit(2);
            break; /* idle mode reports what it got */
        }
        loop_once(50);
    }
    if (fail_hard && st_failed) die(2, "%" PRIu64 " subscriber(s) failed during setup", st_failed);
    return (double)(now_ns() - t0) / 1e9;
}

static int raise_nofile(int want) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    int room = rl.rlim_cur > 1000000000 ? 1000000000 : (int)rl.rlim_cur - 32;
    if (want > room) {
        fprintf(stderr,
                "wsload: WARNING: open-file limit is %llu (hard limit), too low for %d connections; only %d will be "
                "opened. Raise it with 'ulimit -Hn' as root or LimitNOFILE.\n",
                (unsigned long long)rl.rlim_cur, want, room > 0 ? room : 0);
        return room > 0 ? room : 0;
    }
    return want;
}

static void alloc_subs(int n, const url_t *urls, int nurls) {
    nsubs = n;
    subs = calloc((size_t)n, sizeof *subs);
    if (!subs) die(2, "out of memory");
    for (int i = 0; i < n; i++) {
        subs[i].fd = -1;
        subs[i].kind = K_SUB;
        subs[i].idx = i;
        subs[i].url = &urls[i % nurls];
        subs[i].session = i % opt.sessions;
    }
}

/* ---------- modes ---------- */

static long rss_kb(long pid) {
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = atol(line + 6);
    fclose(f);
    return kb;
}

static int run_idle(void) {
    if (!opt.nsub) die(2, "idle: at least one --url is required");
    int want = raise_nofile(opt.conns);
    bool fd_limited = want < opt.conns;
    long before = opt.pid ? rss_kb(opt.pid) : -1;
    if (opt.pid && before < 0) die(2, "cannot read /proc/%ld/status", opt.pid);
    setup_sessions(opt.sessions);
    alloc_subs(want, opt.sub, opt.nsub);
    fprintf(stderr, "wsload: opening %d connections...\n", want);
    double setup = open_subscribers(false);
    fprintf(stderr, "wsload: %" PRIu64 " subscribed in %.2f s, holding %.1f s\n", st_ready, setup, opt.hold);
    uint64_t until = now_ns() + (uint64_t)(opt.hold * 1e9);
    while (now_ns() < until && !interrupted) loop_once(100);
    long after = opt.pid ? rss_kb(opt.pid) : -1;
    uint64_t alive = st_ready - st_closed_by_server;
    double per = (opt.pid && st_ready) ? (double)(after - before) * 1024.0 / (double)st_ready : 0;
    printf("wsload idle: %d connections requested, %d sessions\n", opt.conns, opt.sessions);
    printf("  %-34s %" PRIu64 " (setup %.2f s)%s\n", "connections subscribed", st_ready, setup,
           fd_limited ? "  [limited by open-file limit]" : "");
    printf("  %-34s %" PRIu64 "\n", "failed during setup", st_failed);
    printf("  %-34s %" PRIu64 "\n", "closed by server while held", st_closed_by_server);
    if (opt.pid) {
        printf("  %-34s %ld KiB\n", "server RSS before", before);
        printf("  %-34s %ld KiB\n", "server RSS after hold", after);
        printf("  %-34s %.0f bytes\n", "RSS growth per connection", per);
    } else {
        printf("  (no --pid given: server memory not measured)\n");
    }
    if (opt.json)
        printf("{\"mode\":\"idle\",\"requested\":%d,\"established\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"closed_by_server\":%" PRIu64 ",\"alive\":%" PRIu64 ",\"fd_limited\":%s,\"setup_s\":%.3f,"
               "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_per_conn_bytes\":%.1f}\n",
               opt.conns, st_ready, st_failed, st_closed_by_server, alive, fd_limited ? "true" : "false", setup,
               before, after, per);
    return 0;
}

static int run_fanout(void) {
    if (!opt.nsub || !opt.npub) die(2, "fanout: at least one --sub-url and one --pub-url are required");
    if (opt.sessions < 1 || opt.subs < 1 || opt.pub_conns < 1 || opt.pipeline < 1) die(2, "counts must be >= 1");
    int want = raise_nofile(opt.subs + opt.pub_conns);
    if (want < opt.subs + opt.pub_conns) die(2, "not enough file descriptors for --subs plus --pub-conns");
    setup_sessions(opt.sessions);
    alloc_subs(opt.subs, opt.sub, opt.nsub);
    /* padding so the body is about --size bytes (measured with typical counter widths) */
    char probe[512];
    int base = snprintf(probe, sizeof probe,
                        "{\"sessionId\":%s,\"type\":\"bench\",\"timestamp\":\"2026-01-01T00:00:00.000Z\","
                        "\"data\":{\"wsl_n\":100000,\"wsl_t\":1000000000000000,\"pad\":\"\"}}",
                        sessions[0].quoted);
    pad_len = opt.size > base ? opt.size - base : 0;
    if (pad_len > 8 << 20) die(2, "--size too large (max 8 MiB)");
    body_cap = (size_t)pad_len + 1024;
    body = xrealloc(NULL, body_cap);
    pad = xrealloc(NULL, (size_t)pad_len + 1);
    memset(pad, 'x', (size_t)pad_len);
    if (opt.pad_words) {
        /* words drawn at random from a small vocabulary: compresses about as well as the log
           lines and tool output agents post, where one repeated byte would compress 100:1 */
        static const char *words[] = {"agent", "tool", "call", "finished", "started", "reading", "file", "src/",
            "main.swift", "tests", "passed", "failed", "step", "plan", "the", "a", "of", "to", "with", "result",
            "error", "ok", "build", "line", "42", "7", "1024", "session", "output", "token", "model", "json"};
        int at = 0;
        while (at < pad_len) {
            const char *w = words[rng() % (sizeof words / sizeof *words)];
            int wl = (int)strlen(w);
            for (int k = 0; k < wl && at < pad_len; k++) pad[at++] = w[k];
            if (at < pad_len) pad[at++] = ' ';
        }
    }
    pad[pad_len] = 0;

    fprintf(stderr, "wsload: opening %d subscribers over %d URL(s)...\n", nsubs, opt.nsub);
    double setup = open_subscribers(true);
    fprintf(stderr, "wsload: all %d subscribers confirmed in %.2f s; publishing for %.1f s\n", nsubs, setup,
            opt.duration);

    /* publisher connections: connection c -> URL c mod npub; session s -> connection s mod conns */
    npubs = opt.pub_conns;
    pubs = calloc((size_t)npubs, sizeof *pubs);
    for (int i = 0; i < npubs; i++) {
        conn_t *c = &pubs[i];
        c->fd = -1;
        c->kind = K_PUB;
        c->idx = i;
        c->url = &opt.pub[i % opt.npub];
        c->fifo = calloc((size_t)opt.pipeline, sizeof *c->fifo);
        c->sess = calloc((size_t)opt.sessions, sizeof *c->sess);
        for (int s = i; s < opt.sessions; s += npubs) c->sess[c->nsess++] = s;
        c->state = S_CLOSED;
    }
    if (npubs > opt.sessions)
        fprintf(stderr, "wsload: note: %d publisher connections have no session (--pub-conns > --sessions)\n",
                npubs - opt.sessions);

    /* phase 2: publish */
    uint64_t pub_start = now_ns(), pub_stop = pub_start + (uint64_t)(opt.duration * 1e9);
    publishing = true;
    while (!interrupted) {
        uint64_t now = now_ns();
        if (now >= pub_stop) break;
        pub_fill(now, pub_start, false);
        loop_once(opt.rate > 0 ? 1 : 10);
    }
    publishing = false;
    t_pub_end = now_ns();

    /* phase 3: drain - wait for open responses and deliveries, stop when all arrived */
    uint64_t drain_stop = t_pub_end + (uint64_t)(opt.drain * 1e9), next_check = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= drain_stop || interrupted) break;
        int open = 0;
        if (opt.retry) pub_fill(now, pub_start, true); /* finish retries of events already numbered */
        for (int i = 0; i < npubs; i++) open += pubs[i].fcount + pubs[i].retry_pending;
        if (!open && now >= next_check) {
            uint64_t exp = 0, got = 0;
            for (int i = 0; i < nsubs; i++) {
                uint64_t e = sessions[subs[i].session].ok;
                exp += e;
                got += subs[i].unique < e ? subs[i].unique : e;
            }
            if (got >= exp) break;
            next_check = now + 10000000ull;
        }
        loop_once(5);
    }
    for (int i = 0; i < npubs; i++) {
        /* anything still open when the drain ended never got an answer */
        if (opt.retry) st_abandoned += (uint64_t)pubs[i].fcount + pubs[i].retry_pending;
        else st_noresp += (uint64_t)pubs[i].fcount;
    }

    /* report */
    uint64_t expected = 0, lost = 0;
    for (int i = 0; i < nsubs; i++) {
        uint64_t e = sessions[subs[i].session].ok;
        expected += e;
        if (subs[i].unique < e) lost += e - subs[i].unique;
    }
    double pub_s = (double)(t_pub_end - pub_start) / 1e9;
    double del_s = t_last_delivery > t_first_pub ? (double)(t_last_delivery - t_first_pub) / 1e9 : 0;
    double pub_rate = pub_s > 0 ? (double)st_ok / pub_s : 0;
    double del_rate = del_s > 0 ? (double)st_delivered / del_s : 0;
    double q[5] = { hist_q(0.50) / 1e3, hist_q(0.90) / 1e3, hist_q(0.99) / 1e3, hist_q(0.999) / 1e3,
                    (double)hist_max_us / 1e3 };
    uint64_t post_failed = st_non2xx + st_noresp;
    bool bad = lost || st_dup || st_ooo || st_foreign || (opt.retry ? st_abandoned > 0 : post_failed > 0);

    printf("wsload fanout: %d subs over %d URL(s), %d sessions, %d pub conns over %d URL(s), pipeline %d, "
           "~%d-byte events, rate %s, %.1f s\n",
           nsubs, opt.nsub, opt.sessions, npubs, opt.npub, opt.pipeline, opt.size,
           opt.rate > 0 ? "fixed" : "max", opt.duration);
    if (opt.rate > 0) printf("  %-34s %.0f/s\n", "target rate", opt.rate);
    printf("  %-34s %.2f s\n", "subscriber setup", setup);
    printf("  %-34s %" PRIu64 "  (%.1f/s)\n", "events posted (2xx)", st_ok, pub_rate);
    printf("  %-34s %" PRIu64 " non-2xx (429: %" PRIu64 ", 5xx: %" PRIu64 "), %" PRIu64 " unanswered%s\n",
           "POST errors", st_non2xx, st_429, st_5xx, st_noresp, opt.retry ? " (retried)" : "");
    printf("  %-34s %" PRIu64 "\n", "publisher connection errors", st_conn_err);
    if (opt.retry) printf("  %-34s %" PRIu64 "\n", "events never posted (gave up)", st_abandoned);
    printf("  %-34s %" PRIu64 "\n", "expected deliveries", expected);
    printf("  %-34s %" PRIu64 "  (%.1f/s)\n", "delivered", st_delivered, del_rate);
    double wire_per = st_delivered ? (double)st_wire_bytes / (double)st_delivered : 0;
    printf("  %-34s %.1f  (%" PRIu64 " of %" PRIu64 " compressed)\n", "wire bytes per delivery", wire_per, st_compressed,
           st_delivered);
    printf("  %-34s %" PRIu64 " / %" PRIu64 " / %" PRIu64 "\n", "lost / duplicates / out-of-order", lost, st_dup,
           st_ooo);
    if (st_foreign) printf("  %-34s %" PRIu64 "\n", "events of a foreign session", st_foreign);
    printf("  %-34s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", "latency ms", q[0], q[1], q[2], q[3],
           q[4]);
    printf("  %-34s %" PRIu64 "\n", "subscribers closed by server", st_closed_by_server);
    printf("  %-34s %s\n", "result", bad ? "PROBLEMS FOUND" : "ok");
    if (opt.json)
        printf("{\"mode\":\"fanout\",\"subs\":%d,\"sessions\":%d,\"sub_urls\":%d,\"pub_urls\":%d,\"pub_conns\":%d,"
               "\"pipeline\":%d,\"size\":%d,\"rate_target\":%.1f,\"duration_s\":%.3f,\"setup_s\":%.3f,"
               "\"posted\":%" PRIu64 ",\"post_non2xx\":%" PRIu64 ",\"post_429\":%" PRIu64 ",\"post_5xx\":%" PRIu64
               ",\"post_unanswered\":%" PRIu64 ",\"pub_conn_errors\":%" PRIu64 ",\"post_abandoned\":%" PRIu64 ",\"expected\":%" PRIu64
               ",\"delivered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"out_of_order\":%" PRIu64
               ",\"foreign\":%" PRIu64 ",\"publish_rate\":%.1f,\"deliveries_per_s\":%.1f,\"lat_p50_ms\":%.3f,"
               "\"lat_p90_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,\"lat_max_ms\":%.3f,"
               "\"closed_by_server\":%" PRIu64 ",\"deflate\":%s,\"wire_bytes_per_delivery\":%.1f,"
               "\"compressed_deliveries\":%" PRIu64 ",\"ok\":%s}\n",
               nsubs, opt.sessions, opt.nsub, opt.npub, npubs, opt.pipeline, opt.size, opt.rate, pub_s, setup, st_ok,
               st_non2xx, st_429, st_5xx, st_noresp, st_conn_err, st_abandoned, expected, st_delivered, lost, st_dup, st_ooo,
               st_foreign, pub_rate, del_rate, q[0], q[1], q[2], q[3], q[4], st_closed_by_server,
               opt.deflate ? "true" : "false", wire_per, st_compressed, bad ? "false" : "true");
    return opt.check && bad ? 1 : 0;
}

/* ---------- command line ---------- */

static void usage(FILE *f) {
    fputs(
        "usage: wsload fanout --sub-url ws://127.0.0.1:PORT/ws --pub-url http://127.0.0.1:PORT [options]\n"
        "       wsload idle --url ws://127.0.0.1:PORT/ws [--conns N] [--pid PID] [options]\n"
        "\n"
        "fanout: open --subs WebSocket subscribers, subscribe subscriber i to session PREFIX<i mod sessions>,\n"
        "then POST events for --duration seconds and check that every subscriber gets every 2xx event of its\n"
        "session exactly once and in order; report rates and delivery latency.\n"
        "  --sub-url URL      WebSocket URL (repeatable; subscribers are spread round-robin)\n"
        "  --pub-url URL      HTTP base URL to POST /api/events (repeatable; publisher connections round-robin)\n"
        "  --subs N           subscriber connections (1000)\n"
        "  --sessions N       sessions (10)\n"
        "  --prefix STR       session id prefix (bench-)\n"
        "  --size BYTES       approximate body size of each event, padded with a \"pad\" string (200)\n"
        "  --rate R           events per second in total, 0 = as fast as the servers answer (0)\n"
        "  --duration S       seconds of publishing (10)\n"
        "  --pub-conns N      HTTP keep-alive publisher connections; session s always uses connection s mod N (4)\n"
        "  --pipeline K       requests in flight per publisher connection (1)\n"
        "  --retry            retry a non-2xx or failed POST with the same event until it gets 2xx\n"
        "                     (keeps order; forces --pipeline 1)\n"
        "  --drain S          seconds to wait for deliveries after publishing; ends early when all arrived (3)\n"
        "  --check            exit 1 if any event was lost, duplicated, out of order or misrouted, or any POST\n"
        "                     failed (with --retry: any event never got 2xx)\n"
        "  --pad-words        pad events with random words (compresses like text) instead of one repeated byte\n"
        "idle: open --conns subscribed connections, hold them, report the server's RSS growth per connection.\n"
        "  --url URL          WebSocket URL (repeatable; connections spread round-robin)\n"
        "  --conns N          connections (10000)\n"
        "  --sessions N       sessions to spread them over (100)\n"
        "  --hold S           seconds to hold them before measuring (5)\n"
        "  --pid PID          server process whose VmRSS is read before connecting and after the hold\n"
        "common:\n"
        "  --api-key KEY      send 'x-api-key: KEY' on POSTs and WebSocket upgrades\n"
        "  --deflate          offer permessage-deflate on every WebSocket (a server that does not agree fails\n"
        "                     the subscriber); compressed messages are inflated before they are checked\n"
        "  --ramp N           concurrent WebSocket handshakes while connecting (256)\n"
        "  --setup-timeout S  give up (exit 2) if not all subscribers are confirmed in time (60)\n"
        "  --json             print one JSON object as the last line\n"
        "  --help             this text\n"
        "Only loopback hosts (127.x.x.x, localhost, [::1]) are accepted. wss:// and https:// URLs use TLS\n"
        "(certificates are not verified). Exit: 0 ok, 1 --check failed, 2 error.\n",
        f);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    bool fanout = !strcmp(mode, "fanout"), idle = !strcmp(mode, "idle");
    if (!fanout && !idle) { usage(stderr); die(2, "unknown mode '%s'", mode); }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && (v ? (i++, 1) : (die(2, "%s needs a value", name), 0)))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--json")) opt.json = true;
        else if (!strcmp(a, "--check")) opt.check = true;
        else if (!strcmp(a, "--retry")) opt.retry = true;
        else if (!strcmp(a, "--deflate")) opt.deflate = true;
        else if (!strcmp(a, "--pad-words")) opt.pad_words = true;
        else if (ARG("--sub-url") || ARG("--url")) {
            if (opt.nsub == MAX_URLS) die(2, "too many URLs");
            parse_url(v, true, &opt.sub[opt.nsub++]);
        } else if (ARG("--pub-url")) {
            if (opt.npub == MAX_URLS) die(2, "too many URLs");
            parse_url(v, false, &opt.pub[opt.npub++]);
        }
        else if (ARG("--subs")) opt.subs = atoi(v);
        else if (ARG("--sessions")) { opt.sessions = atoi(v); if (opt.sessions < 1) die(2, "--sessions must be >= 1"); }
        else if (ARG("--size")) opt.size = atoi(v);
        else if (ARG("--rate")) opt.rate = atof(v);
        else if (ARG("--duration")) opt.duration = atof(v);
        else if (ARG("--pub-conns")) opt.pub_conns = atoi(v);
        else if (ARG("--pipeline")) opt.pipeline = atoi(v);
        else if (ARG("--drain")) opt.drain = atof(v);
        else if (ARG("--api-key")) opt.api_key = v;
        else if (ARG("--prefix")) opt.prefix = v;
        else if (ARG("--conns")) opt.conns = atoi(v);
        else if (ARG("--hold")) opt.hold = atof(v);
        else if (ARG("--pid")) opt.pid = atol(v);
        else if (ARG("--ramp")) opt.ramp = atoi(v);
        else if (ARG("--setup-timeout")) opt.setup_timeout = atof(v);
        else die(2, "unknown option '%s' (see --help)", a);
#undef ARG
    }
    if (opt.ramp < 1) opt.ramp = 1;
    if (opt.retry && opt.pipeline > 1) {
        fprintf(stderr, "wsload: note: --retry keeps order by sending one request at a time: --pipeline set to 1\n");
        opt.pipeline = 1;
    }
    if (!opt.sessions) opt.sessions = fanout ? 10 : 100;
    if (opt.sessions < 1) die(2, "--sessions must be >= 1");
    if (strlen(opt.prefix) > 60) die(2, "--prefix too long");
    if (opt.api_key && strpbrk(opt.api_key, "\r\n")) die(2, "bad --api-key");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    rng_state ^= now_ns() ^ (uint64_t)getpid() << 32;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die(2, "epoll_create1: %s", strerror(errno));
    return fanout ? run_fanout() : run_idle();
}
