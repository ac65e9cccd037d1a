// SPDX-License-Identifier: GPL-2.0
/*
 * Debian 12's CivetWeb 1.15 loads OpenSSL at run time by the names "libssl.so"
 * and "libcrypto.so" and looks its functions up by name, as it would in
 * OpenSSL 1.1. In OpenSSL 3, SSL_get_peer_certificate() became a macro over
 * SSL_get1_peer_certificate(), so CivetWeb's pointer to it is NULL and every
 * TLS connection crashes the server.
 *
 * This library's soname is "libssl.so" and lpmon-exporter links it: CivetWeb's
 * dlopen("libssl.so") then returns it (glibc matches loaded objects by soname),
 * and dlsym() finds the missing function here and the rest in libssl.so.3,
 * which it links.
 */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *ssl);

X509 *SSL_get_peer_certificate(const SSL *ssl)
{
	return SSL_get1_peer_certificate(ssl);
}
