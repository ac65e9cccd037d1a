// SPDX-License-Identifier: GPL-2.0
/*
 * Soname "libcrypto.so", linking libcrypto.so.3: answers CivetWeb's
 * dlopen("libcrypto.so") (see libssl_compat.c), so TLS works without the
 * unversioned development symlinks.
 */
#include <openssl/crypto.h>

/* Referenced so the linker keeps libcrypto.so.3 as a dependency. */
unsigned long lpmon_crypto_compat_version(void)
{
	return OpenSSL_version_num();
}
