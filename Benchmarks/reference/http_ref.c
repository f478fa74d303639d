/* Reference for HTTPBench: the same POSTs done in plain C with libcurl.
 *   http_ref seq  URL COUNT SECONDS   one reused easy handle, sequential keep-alive POSTs
 *   http_ref multi URL COUNT SECONDS INFLIGHT   a multi handle keeping INFLIGHT POSTs running
 * Body: the same 1 KiB JSON document as HTTPBench; "Expect:" emptied; expects 201.
 * Prints FIGURE lines; exits non-zero on any failure. Bounded by COUNT and SECONDS. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char body[1024];
static size_t sink(char *p, size_t s, size_t n, void *u) { (void)p; (void)u; return s * n; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void make_body(void) {
    /* {"invoice":"INV-000001","lines":[...padding...]} exactly 1024 bytes, same as the Swift bench */
    const char *head = "{\"invoice\":\"INV-000001\",\"currency\":\"NZD\",\"note\":\"";
    const char *tail = "\"}";
    size_t h = strlen(head), t = strlen(tail);
    memcpy(body, head, h);
    memset(body + h, 'x', sizeof body - h - t);
    memcpy(body + sizeof body - t, tail, t);
}

static CURL *make_easy(const char *url, struct curl_slist *headers) {
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sizeof body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    return e;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s seq|multi URL COUNT SECONDS [INFLIGHT]\n", argv[0]); return 2; }
    const char *mode = argv[1], *url = argv[2];
    long count = atol(argv[3]);
    double seconds = atof(argv[4]);
    int inflight = argc > 5 ? atoi(argv[5]) : 32;
    make_body();
    curl_global_init(CURL_GLOBAL_ALL);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");

    long done = 0, connects = 0;
    double start = now(), deadline = start + seconds;
    if (strcmp(mode, "seq") == 0) {
        CURL *e = make_easy(url, headers);
        while (done < count && now() < deadline) {
            CURLcode rc = curl_easy_perform(e);
            long status = 0, c = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &c);
            if (rc != CURLE_OK || status != 201) { fprintf(stderr, "failed: %s %ld\n", curl_easy_strerror(rc), status); return 1; }
            connects += c;
            done++;
        }
        double elapsed = now() - start;
        printf("FIGURE http.keepalive_post.reference %.0f req/s\n", done / elapsed);
        printf("# c sequential: %ld requests in %.2f s, %ld connection(s)\n", done, elapsed, connects);
        curl_easy_cleanup(e);
    } else {
        CURLM *m = curl_multi_init();
        CURL **handles = calloc(inflight, sizeof *handles);
        long started = 0;
        for (int i = 0; i < inflight && started < count; i++, started++) {
            handles[i] = make_easy(url, headers);
            curl_multi_add_handle(m, handles[i]);
        }
        int running = 1;
        while (done < count && now() < deadline) {
            curl_multi_perform(m, &running);
            CURLMsg *msg; int left;
            while ((msg = curl_multi_info_read(m, &left))) {
                if (msg->msg != CURLMSG_DONE) continue;
                CURL *e = msg->easy_handle;
                long status = 0, c = 0;
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
                curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &c);
                if (msg->data.result != CURLE_OK || status != 201) { fprintf(stderr, "failed: %s %ld\n", curl_easy_strerror(msg->data.result), status); return 1; }
                connects += c;
                done++;
                curl_multi_remove_handle(m, e);
                if (started < count && now() < deadline) { curl_multi_add_handle(m, e); started++; }
            }
            if (done < count) curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        double elapsed = now() - start;
        printf("FIGURE http.concurrent%d_post.reference %.0f req/s\n", inflight, done / elapsed);
        printf("# c multi: %ld requests in %.2f s, %d in flight, %ld connection(s)\n", done, elapsed, inflight, connects);
    }
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return 0;
}
