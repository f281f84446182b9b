#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>
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

/* libmicrohttpd's own messages, one line each and marked as such in the server's stderr. At most
   20 a second: a client that opens and drops connections in a loop must not be able to fill the
   disk; what is left out is counted. */
static pthread_mutex_t mhd_shim_log_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t mhd_shim_log_second = 0;
static unsigned mhd_shim_log_lines = 0;
static unsigned long mhd_shim_log_dropped = 0;

static void mhd_shim_log(void *cls, const char *format, va_list arguments) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, format, arguments);
    size_t length = strlen(line);
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r')) line[--length] = '\0';
    time_t now = time(NULL);
    pthread_mutex_lock(&mhd_shim_log_lock);
    if (now != mhd_shim_log_second) {
        if (mhd_shim_log_dropped > 0) {
            fprintf(stderr, "libmicrohttpd: (%lu more messages left out)\n", mhd_shim_log_dropped);
        }
        mhd_shim_log_second = now;
        mhd_shim_log_lines = 0;
        mhd_shim_log_dropped = 0;
    }
    if (mhd_shim_log_lines < 20) {
        mhd_shim_log_lines += 1;
        fprintf(stderr, "libmicrohttpd: %s\n", line);
    } else {
        mhd_shim_log_dropped += 1;
    }
    pthread_mutex_unlock(&mhd_shim_log_lock);
}

/* MHD_start_daemon is variadic, which Swift cannot call: this wrapper takes the
   options as an array (terminated by MHD_OPTION_END) plus the completion and connection
   callbacks. */
static inline struct MHD_Daemon *mhd_shim_start(unsigned int flags, uint16_t port,
                                                 MHD_AccessHandlerCallback handler, void *handler_cls,
                                                 MHD_RequestCompletedCallback completed, void *completed_cls,
                                                 MHD_NotifyConnectionCallback notify, void *notify_cls,
                                                 struct MHD_OptionItem *options) {
    /* The logger first: libmicrohttpd reports the options that follow through it. */
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_shim_log, NULL,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, completed_cls,
                            MHD_OPTION_NOTIFY_CONNECTION, notify, notify_cls,
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

/* ---- WebSocket support: helpers for calls Swift cannot make directly. ---- */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>

/* MHD_upgrade_action is variadic. */
static inline enum MHD_Result mhd_shim_upgrade_close(struct MHD_UpgradeResponseHandle *urh) {
    return MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* libmicrohttpd 0.9.75 relays an upgraded TLS connection through buffers made of what is left
   of the connection's memory pool, but at that moment the buffer that held the 101's headers
   still takes all of it (0.9.77 frees it first). Every upgraded TLS connection then relays
   through the handle's 8-byte emergency buffer: 4 bytes per TLS record, ~80 records for one
   signaling message, a few hundred messages a second at most.

   The layout below is 0.9.75's `struct MHD_UpgradeResponseHandle` (internal.h, with TLS and
   epoll support, as Debian builds it). mhd_shim_widen_tls_relay() gives the handle a buffer of
   `size` bytes instead, but only when everything it reads matches that exact situation: both
   halves of the emergency buffer in place and unused, and the handle's own back-pointers and
   socket as expected. Any other version or state leaves the handle untouched and returns NULL.
   It must be called from the upgrade handler, which runs on the worker thread that forwards
   the connection, before anything was forwarded. The returned buffer belongs to the caller,
   who frees it once libmicrohttpd has let go of the connection (MHD_CONNECTION_NOTIFY_CLOSED). */
struct mhd_shim_upgrade_epoll_handle_0_9_75 {
    void *urh;
    int socket;
    int celi;
};

struct mhd_shim_upgrade_handle_0_9_75 {
    void *connection;
    void *next, *prev, *next_e, *prev_e;
    bool in_eready_list;
    char *in_buffer, *out_buffer;
    size_t in_buffer_size, out_buffer_size, in_buffer_used, out_buffer_used;
    struct mhd_shim_upgrade_epoll_handle_0_9_75 app, mhd;
    char e_buf[8];
    volatile bool was_closed, clean_ready;
};

static inline void *mhd_shim_widen_tls_relay(
    struct MHD_UpgradeResponseHandle *handle, struct MHD_Connection *connection, int app_socket, size_t size) {
    struct mhd_shim_upgrade_handle_0_9_75 *urh = (struct mhd_shim_upgrade_handle_0_9_75 *)handle;
    const char *version = MHD_get_version();
    if (version == NULL || strcmp(version, "0.9.75") != 0 || size < 2 * sizeof urh->e_buf) return NULL;
    if (urh->connection != (void *)connection || urh->app.urh != (void *)urh || urh->mhd.urh != (void *)urh) {
        return NULL;
    }
    if (urh->app.socket != app_socket || urh->mhd.socket < 0 || urh->mhd.socket == app_socket) return NULL;
    if (urh->in_buffer != urh->e_buf || urh->out_buffer != urh->e_buf + 4 || urh->in_buffer_size != 4 ||
        urh->out_buffer_size != 4 || urh->in_buffer_used != 0 || urh->out_buffer_used != 0 || urh->was_closed) {
        return NULL;
    }
    char *buffer = malloc(size);
    if (buffer == NULL) return NULL;
    urh->in_buffer = buffer;
    urh->in_buffer_size = size / 2;
    urh->out_buffer = buffer + size / 2;
    urh->out_buffer_size = size - size / 2;
    return buffer;
}

/* libmicrohttpd 0.9.75's MHD_upgrade_action(CLOSE) on a TLS connection first shuts the
   application's end of the socket pair down and only then sets `was_closed`. If the worker
   thread forwards in between, it sees the end of the socket pair while `was_closed` is still
   false: it stops reading from the application but keeps waiting for the remote client, and as
   `was_closed` raises no event it never looks again. The connection then stays open until the
   client goes (a fifth of closing handshakes in a test; fixed in 0.9.77).

   mhd_shim_close_tls_upgrade() does the same three steps in the safe order: `was_closed`
   first, so that the event the shutdown raises is always handled knowing it, then the
   shutdown, then MHD_resume_connection(). It touches the handle only after the same kind of
   check as mhd_shim_widen_tls_relay() (version, back-pointers, the application's socket) and
   otherwise calls MHD_upgrade_action(CLOSE) as usual. Like that, it must be called under
   UpgradeCloseGate's lock (WebSocketLoop.swift): libmicrohttpd may free the connection once
   `was_closed` is set. */
static inline enum MHD_Result mhd_shim_close_tls_upgrade(struct MHD_UpgradeResponseHandle *handle, int app_socket) {
    struct mhd_shim_upgrade_handle_0_9_75 *urh = (struct mhd_shim_upgrade_handle_0_9_75 *)handle;
    const char *version = MHD_get_version();
    if (version == NULL || strcmp(version, "0.9.75") != 0 || urh->app.urh != (void *)urh ||
        urh->mhd.urh != (void *)urh || urh->app.socket != app_socket || urh->connection == NULL) {
        return MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE);
    }
    if (urh->was_closed) return MHD_NO;
    struct MHD_Connection *connection = (struct MHD_Connection *)urh->connection;
    __atomic_store_n(&urh->was_closed, true, __ATOMIC_SEQ_CST);
    shutdown(app_socket, SHUT_RDWR);
    MHD_resume_connection(connection);
    return MHD_YES;
}

/* Small WebSocket frames go out at once instead of waiting for the peer's delayed ACK. */
static inline void mhd_shim_set_nodelay(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* The TCP socket of a connection (in TLS mode not the one the application gets, which is
   libmicrohttpd's socket pair to its TLS forwarding). */
static inline int mhd_shim_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}


static inline int mhd_shim_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static inline int mhd_shim_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static inline void mhd_shim_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t written = write(fd, &one, sizeof one);
    (void)written;
}

static inline void mhd_shim_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t got = read(fd, &value, sizeof value);
    (void)got;
}

/* epoll_event is a packed struct on x86-64; these keep its layout on the C side. */
static inline int mhd_shim_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

/* Waits for events; fills tokens[i] and events[i]; returns the count (0 on EINTR). */
static inline int mhd_shim_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int capacity, int timeout) {
    struct epoll_event buffer[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epfd, buffer, capacity, timeout);
    if (count < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < count; i++) {
        tokens[i] = buffer[i].data.u64;
        events[i] = buffer[i].events;
    }
    return count;
}

/* Raises the soft open-file limit to the hard limit (many sockets). */
static inline void mhd_shim_raise_nofile_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}
