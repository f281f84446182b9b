/* wslay: RFC 6455 WebSocket framing, driven by the server's own epoll loop. */
#include <wslay/wslay.h>
