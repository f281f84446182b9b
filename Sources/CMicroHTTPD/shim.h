#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <microhttpd.h>

static inline int mhd_shim_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX escapes in place, except %00: a NUL would silently cut the path or argument
   short ("/users/%00" would reach "/users"), so it stays as the three characters "%00". */
static inline size_t mhd_shim_unescape(void *cls, struct MHD_Connection *connection, char *text) {
    (void)cls;
    (void)connection;
    char *out = text;
    const char *in = text;
    while (*in) {
        if (in[0] == '%' && in[1] && in[2]) {
            int high = mhd_shim_hex(in[1]), low = mhd_shim_hex(in[2]);
            if (high >= 0 && low >= 0 && (high | low) != 0) {
                *out++ = (char)(high * 16 + low);
                in += 3;
                continue;
            }
        }
        *out++ = *in++;
    }
    *out = 0;
    return (size_t)(out - text);
}

/* MHD_start_daemon is variadic, which Swift cannot call: this wrapper takes the
   options as an array (terminated by MHD_OPTION_END) plus the completion callback. */
static inline struct MHD_Daemon *mhd_shim_start(unsigned int flags, uint16_t port,
                                                 MHD_AccessHandlerCallback handler, void *handler_cls,
                                                 MHD_RequestCompletedCallback completed, void *completed_cls,
                                                 struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_UNESCAPE_CALLBACK, mhd_shim_unescape, NULL,
                            MHD_OPTION_ARRAY, options,
                            MHD_OPTION_END);
}

/* The port the daemon listens on (useful after binding port 0). */
static inline uint16_t mhd_shim_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

/* The peer address as text ("" if unknown). */
static inline void mhd_shim_client_address(struct MHD_Connection *connection, char *buffer, size_t size) {
    buffer[0] = 0;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL) return;
    const struct sockaddr *addr = info->client_addr;
    if (addr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, buffer, (socklen_t)size);
    } else if (addr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, buffer, (socklen_t)size);
    }
}
