#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <string.h>

// What Swift cannot import from <openssl/ssl.h>: function-like macros (SSL_CTX_ctrl wrappers,
// SSL_OP_BIT options) and C callbacks. Every name starts with COpenSSL_.

static inline int COpenSSL_CTX_set_protocol_range(SSL_CTX *ctx, int min, int max) {
    return SSL_CTX_set_min_proto_version(ctx, min) == 1 && SSL_CTX_set_max_proto_version(ctx, max) == 1;
}

static inline int COpenSSL_CTX_set_groups(SSL_CTX *ctx, const char *groups) {
    return (int)SSL_CTX_set1_groups_list(ctx, groups);
}

static inline void COpenSSL_CTX_set_modes(SSL_CTX *ctx) {
    // Partial writes: SSL_write returns after each record, like write(2) would.
    // Moving buffer: a retried write may come from another address (the queue's staging buffer).
    // Release buffers: an idle connection keeps no 16 KiB read/write buffers.
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

static inline void COpenSSL_CTX_set_server_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
                             | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_SINGLE_ECDH_USE);
    // Resumption through stateless tickets only: no server-side session cache to grow.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

static inline int COpenSSL_no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    (void)buf; (void)size; (void)rwflag; (void)userdata;
    return -1;
}

/// An encrypted key must fail to load, never prompt on a terminal (a reload would block the loop).
static inline void COpenSSL_CTX_refuse_passphrase(SSL_CTX *ctx) {
    SSL_CTX_set_default_passwd_cb(ctx, COpenSSL_no_passphrase);
}

static inline int COpenSSL_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    static const unsigned char http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
    unsigned char *selected = NULL;
    unsigned char selectedLength = 0;
    if (SSL_select_next_proto(&selected, &selectedLength, http11, sizeof http11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        *outlen = selectedLength;
        return SSL_TLSEXT_ERR_OK;
    }
    // RFC 7301 §3.2: no protocol in common is a fatal no_application_protocol alert.
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/// ALPN: the server speaks http/1.1 only (WebSocket upgrades included). A client that offers
/// no ALPN at all is served as HTTP/1.1 too.
static inline void COpenSSL_CTX_select_http11(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, COpenSSL_alpn_select, NULL);
}

/// The negotiated ALPN protocol, or an empty string.
static inline int COpenSSL_alpn_selected(const SSL *ssl, char *out, int size) {
    const unsigned char *data = NULL;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl, &data, &length);
    if (data == NULL || (int)length >= size) { out[0] = 0; return 0; }
    memcpy(out, data, length);
    out[length] = 0;
    return (int)length;
}

/// Days until the certificate's notAfter (negative when expired); 0 and *ok = 0 on error.
static inline int COpenSSL_CTX_days_left(SSL_CTX *ctx, int *ok) {
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    int days = 0, seconds = 0;
    *ok = cert != NULL && ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(cert)) == 1;
    return days;
}

static inline int COpenSSL_error_reason(unsigned long code) { return ERR_GET_REASON(code); }
static inline int COpenSSL_error_is_ssl(unsigned long code) { return ERR_GET_LIB(code) == ERR_LIB_SSL; }
static inline int COpenSSL_error_is_system(unsigned long code) { return ERR_SYSTEM_ERROR(code); }

// Client sessions (Redis over TLS).

/// SNI: the server name sent in the ClientHello (a macro over SSL_ctrl in <openssl/ssl.h>).
static inline int COpenSSL_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// The certificate must name this IP address (its subjectAltName IP entries).
static inline int COpenSSL_expect_ip(SSL *ssl, const char *ip) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip);
}

static inline void COpenSSL_CTX_set_client_options(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
}

static inline int COpenSSL_reason_certificate_verify_failed(void) { return SSL_R_CERTIFICATE_VERIFY_FAILED; }

#endif
