#ifndef LEDGERLINE_CRABBITMQ_SHIM_H
#define LEDGERLINE_CRABBITMQ_SHIM_H
#if __has_include(<rabbitmq-c/amqp.h>)        /* newer rabbitmq-c releases */
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/framing.h>
#else                                         /* Debian 12 ships 0.11 with top-level headers */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_framing.h>
#endif

/* amqp_login is variadic (the SASL credentials follow the method), so Swift cannot call it.
   This fixes the method to PLAIN and takes user and password as separate arguments. */
static inline amqp_rpc_reply_t crabbitmq_login_plain(amqp_connection_state_t state, const char *vhost,
        int channel_max, int frame_max, int heartbeat, const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}
#endif
