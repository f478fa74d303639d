/* Reference for AMQPBench: the same work in plain C with rabbitmq-c 0.11, one round per fresh queue.
 *
 *   amqp_ref MESSAGES BATCH PREFETCH ROUNDS SECONDS
 *
 * Per round: declare a durable quorum queue (untimed), then
 *   publish:  open a connection, confirm.select, publish MESSAGES persistent 1 KiB messages with a
 *             message id in batches of BATCH, waiting for all confirms of a batch (basic.ack with
 *             `multiple` handled) before the next batch; close.            -> msg/s
 *   consume:  open a connection, passive queue.declare, basic.qos(PREFETCH), basic.consume, one
 *             basic.ack per delivery until MESSAGES were received; close.  -> msg/s
 * then delete the queue (untimed). Prints the median of the rounds as FIGURE lines.
 * Broker from LEDGERLINE_AMQP_URL (amqp://user@host:port/vhost) and LEDGERLINE_AMQP_PASSWORD.
 * Bounded by MESSAGES, ROUNDS and SECONDS; exits non-zero on any failure. */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct amqp_connection_info info;
static const char *password;
static double deadline;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *what, const char *why) {
    fprintf(stderr, "amqp_ref: %s failed: %s\n", what, why);
    exit(1);
}

static void check(amqp_rpc_reply_t reply, const char *what) {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: fail(what, amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION: fail(what, "broker closed the channel or connection");
    default: fail(what, "no reply");
    }
}

static amqp_connection_state_t open_connection(void) {
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *socket = amqp_tcp_socket_new(conn);
    struct timeval timeout = {5, 0};
    if (!socket || amqp_socket_open_noblock(socket, info.host, info.port, &timeout) != AMQP_STATUS_OK)
        fail("connect", info.host);
    check(amqp_login(conn, info.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, info.user, password), "login");
    amqp_channel_open(conn, 1);
    check(amqp_get_rpc_reply(conn), "channel.open");
    return conn;
}

static void close_connection(amqp_connection_state_t conn) {
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

static void declare_queue(const char *queue, int delete) {
    amqp_connection_state_t conn = open_connection();
    if (delete) {
        amqp_queue_delete(conn, 1, amqp_cstring_bytes(queue), 0, 0);
        check(amqp_get_rpc_reply(conn), "queue.delete");
    } else {
        amqp_table_entry_t entry = {amqp_cstring_bytes("x-queue-type"),
                                    {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("quorum")}};
        amqp_table_t arguments = {1, &entry};
        amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, arguments);
        check(amqp_get_rpc_reply(conn), "queue.declare");
    }
    close_connection(conn);
}

/* Publishes `messages` in batches, waiting for every confirm of a batch. Returns how many were confirmed. */
static long publish(const char *queue, long messages, long batch) {
    amqp_connection_state_t conn = open_connection();
    amqp_confirm_select(conn, 1);
    check(amqp_get_rpc_reply(conn), "confirm.select");
    static char body[1024];
    memset(body, 'x', sizeof body);
    char *confirmed = calloc(messages + 2, 1);
    uint64_t next_seq = 1, lowest_unconfirmed = 1;
    long sent = 0;
    char id[32];
    while (sent < messages && now() < deadline) {
        long n = messages - sent < batch ? messages - sent : batch;
        for (long i = 0; i < n; i++) {
            amqp_basic_properties_t props;
            memset(&props, 0, sizeof props);
            props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
            props.delivery_mode = 2;
            snprintf(id, sizeof id, "m-%ld", sent + i);
            props.message_id = amqp_cstring_bytes(id);
            amqp_bytes_t payload = {sizeof body, body};
            if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(""), amqp_cstring_bytes(queue), 0, 0, &props, payload) !=
                AMQP_STATUS_OK)
                fail("basic.publish", "socket");
            next_seq++;
        }
        while (lowest_unconfirmed < next_seq) {
            amqp_frame_t frame;
            int status = amqp_simple_wait_frame(conn, &frame);
            if (status != AMQP_STATUS_OK) fail("wait for confirms", amqp_error_string2(status));
            if (frame.frame_type != AMQP_FRAME_METHOD) continue;
            if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) fail("publish", "nacked");
            if (frame.payload.method.id != AMQP_BASIC_ACK_METHOD) fail("publish", "unexpected method");
            amqp_basic_ack_t *ack = frame.payload.method.decoded;
            uint64_t first = ack->multiple ? lowest_unconfirmed : ack->delivery_tag;
            for (uint64_t s = first; s <= ack->delivery_tag; s++) confirmed[s] = 1;
            while (lowest_unconfirmed < next_seq && confirmed[lowest_unconfirmed]) lowest_unconfirmed++;
        }
        amqp_maybe_release_buffers(conn);
        sent += n;
    }
    free(confirmed);
    close_connection(conn);
    return sent;
}

/* Consumes `messages` deliveries with one ack each. Returns how many were received. */
static long consume(const char *queue, long messages, int prefetch) {
    amqp_connection_state_t conn = open_connection();
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn), "queue.declare(passive)");
    amqp_basic_qos(conn, 1, 0, prefetch, 0);
    check(amqp_get_rpc_reply(conn), "basic.qos");
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    check(amqp_get_rpc_reply(conn), "basic.consume");
    long received = 0;
    while (received < messages && now() < deadline) {
        amqp_envelope_t envelope;
        struct timeval timeout = {1, 0};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &timeout, 0);
        if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) continue;
        check(reply, "consume");
        if (amqp_basic_ack(conn, 1, envelope.delivery_tag, 0) != AMQP_STATUS_OK) fail("basic.ack", "socket");
        amqp_destroy_envelope(&envelope);
        received++;
    }
    close_connection(conn);
    return received;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, count, sizeof *values, by_value);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s MESSAGES BATCH PREFETCH ROUNDS SECONDS\n", argv[0]);
        return 2;
    }
    long messages = atol(argv[1]), batch = atol(argv[2]);
    int prefetch = atoi(argv[3]), rounds = atoi(argv[4]);
    deadline = now() + atof(argv[5]);
    const char *url = getenv("LEDGERLINE_AMQP_URL");
    password = getenv("LEDGERLINE_AMQP_PASSWORD");
    if (!url || !password) fail("setup", "set LEDGERLINE_AMQP_URL and LEDGERLINE_AMQP_PASSWORD");
    char *url_copy = strdup(url);
    amqp_default_connection_info(&info);
    if (amqp_parse_url(url_copy, &info) != AMQP_STATUS_OK) fail("setup", "bad LEDGERLINE_AMQP_URL");

    double publish_rates[16], consume_rates[16];
    int done = 0;
    for (int round = 0; round < rounds && round < 16 && now() < deadline; round++) {
        char queue[64];
        snprintf(queue, sizeof queue, "bench.c.%d.%d", (int)getpid(), round);
        declare_queue(queue, 0);
        double t0 = now();
        long published = publish(queue, messages, batch);
        double t1 = now();
        long consumed = consume(queue, published, prefetch);
        double t2 = now();
        declare_queue(queue, 1);
        if (consumed != published) fail("consume", "fewer deliveries than confirmed publishes (time limit?)");
        publish_rates[done] = published / (t1 - t0);
        consume_rates[done] = consumed / (t2 - t1);
        printf("# round %d: %ld messages, publish %.0f msg/s, consume %.0f msg/s\n", round, published,
               publish_rates[done], consume_rates[done]);
        done++;
    }
    if (done == 0) fail("benchmark", "no round finished");
    printf("FIGURE amqp.publish_confirmed.reference %.0f msg/s\n", median(publish_rates, done));
    printf("FIGURE amqp.consume_ack.reference %.0f msg/s\n", median(consume_rates, done));
    free(url_copy);
    return 0;
}
