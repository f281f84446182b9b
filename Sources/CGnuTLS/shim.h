/* GnuTLS's hash and HMAC functions: SHA-1 for the WebSocket handshake and HMAC-SHA1 for
   TURN REST credentials, two places where the protocols fix SHA-1 (libsodium has none). */
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
