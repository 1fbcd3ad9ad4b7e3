// herald-bench-vendor: the benchmark's vendor, APNs and FCM over HTTP/2 + TLS, in C on nghttp2 and
// OpenSSL, single-threaded on epoll.
//
// `herald mock-vendor` (Swift, on NIO) checks everything the vendors check and scripts every answer the
// tests need, but costs about 50 µs of CPU per request: on the benchmark's two shared cores it took a
// third of the machine and hid Herald's own cost. This one answers only what the benchmark needs, at a
// fraction of that, and still checks each request as the vendor would:
//
//   APNs  POST /3/device/<hex token>: the ES256 provider token (signature against the .p8 key's public
//         half, alg, kid, iss, an integer iat under an hour old; each distinct token verified once, as
//         Apple does), the topic, push type, priority, expiration, apns-id and the JSON payload's shape.
//         410 Unregistered for tokens starting with --dead-prefix, 200 otherwise.
//   FCM   POST /token: the RS256 service-account assertion (signature, scope, audience, iat/exp), issuing
//         an access token; POST /v1/projects/<project>/messages:send with that bearer token and a
//         message naming its token: 404 UNREGISTERED for dead tokens, 200 with a body otherwise.
//
// A request that fails a check is answered as the vendor would (400/403) and counted as malformed; the
// benchmark requires none. On SIGUSR1 (a snapshot) and on SIGTERM or SIGINT (then it exits) it writes its
// counts as JSON to --stats-file: requests,
// acceptances, refusals, malformed requests, pushes by type, and the sum of the device indexes in the
// tokens it accepted (tokens end in the device's index in hex), which the benchmark compares with the
// nodes of the publishes answered `result`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

// MARK: Options and counts

static struct {
    const char *port_file, *stats_file, *cert, *key, *apns_key, *key_id, *team_id, *topic;
    const char *service_account, *dead_prefix;
    int port, delay_ms;
} options = {.key_id = "FAKE000KEY", .team_id = "FAKETEAM01", .dead_prefix = "dead"};

static struct {
    unsigned long long apns_requests, apns_accepted, apns_refused, apns_alert, apns_background, apns_token_sum;
    unsigned long long fcm_requests, fcm_accepted, fcm_refused, fcm_token_sum, token_requests;
    unsigned long long malformed, jwt_verifications, connections;
} counts;

static EVP_PKEY *apns_public_key, *fcm_public_key;
static char fcm_project[128], fcm_audience[256];
static int listen_port;

static void die(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    fprintf(stderr, "herald-bench-vendor: ");
    vfprintf(stderr, format, arguments);
    fprintf(stderr, "\n");
    va_end(arguments);
    exit(1);
}

static unsigned long long now_ms(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (unsigned long long)time.tv_sec * 1000 + (unsigned long long)time.tv_nsec / 1000000;
}

// MARK: Small text helpers (the inputs are short and come from one known client)

static int base64url_decode(const char *text, size_t length, unsigned char *out, size_t capacity) {
    static signed char table[256];
    static int ready = 0;
    if (!ready) {
        memset(table, -1, sizeof table);
        const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int i = 0; i < 64; i++) table[(unsigned char)alphabet[i]] = (signed char)i;
        ready = 1;
    }
    unsigned int accumulator = 0;
    int bits = 0;
    size_t written = 0;
    for (size_t i = 0; i < length; i++) {
        int value = table[(unsigned char)text[i]];
        if (value < 0) return -1;
        accumulator = (accumulator << 6) | (unsigned int)value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (written >= capacity) return -1;
            out[written++] = (unsigned char)(accumulator >> bits);
        }
    }
    return (int)written;
}

// The string value of "name" in a flat JSON object, copied into out; 0 if absent.
static int json_string(const char *json, const char *name, char *out, size_t capacity) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", name);
    const char *start = strstr(json, pattern);
    if (!start) return 0;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= capacity) return 0;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = 0;
    return 1;
}

// The integer value of "name", which must be written as an integer (no fraction, no quotes).
static int json_integer(const char *json, const char *name, long long *value) {
    char pattern[96];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *start = strstr(json, pattern);
    if (!start) return 0;
    start += strlen(pattern);
    char *end;
    *value = strtoll(start, &end, 10);
    return end != start && (*end == ',' || *end == '}');
}

// A JSON object with balanced braces and brackets outside strings: the shape a vendor parses.
static int looks_like_json_object(const unsigned char *body, size_t length) {
    if (length < 2 || body[0] != '{') return 0;
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = body[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = 0;
            else if (c < 0x20) return 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth < 0) return 0;
            if (depth == 0 && i != length - 1) return 0;
        }
    }
    return depth == 0 && !in_string;
}

// The device index a benchmark token ends with: its last 15 hex digits.
static unsigned long long token_index(const char *token, size_t length) {
    size_t start = length > 15 ? length - 15 : 0;
    unsigned long long value = 0;
    for (size_t i = start; i < length; i++) {
        char c = token[i];
        value = value * 16 + (unsigned long long)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
    }
    return value;
}

static int all_hex(const char *text, size_t length) {
    if (length == 0) return 0;
    for (size_t i = 0; i < length; i++) if (!isxdigit((unsigned char)text[i])) return 0;
    return 1;
}

// MARK: JWT

static int verify_signature(EVP_PKEY *key, const unsigned char *message, size_t message_length, const unsigned char *signature,
                            size_t signature_length, int es256) {
    unsigned char der[128];
    const unsigned char *checked = signature;
    size_t checked_length = signature_length;
    if (es256) {
        // JOSE carries r||s; OpenSSL verifies DER.
        if (signature_length != 64) return 0;
        ECDSA_SIG *pair = ECDSA_SIG_new();
        ECDSA_SIG_set0(pair, BN_bin2bn(signature, 32, NULL), BN_bin2bn(signature + 32, 32, NULL));
        unsigned char *cursor = der;
        int length = i2d_ECDSA_SIG(pair, &cursor);
        ECDSA_SIG_free(pair);
        if (length <= 0) return 0;
        checked = der;
        checked_length = (size_t)length;
    }
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    int valid = EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(context, checked, checked_length, message, message_length) == 1;
    EVP_MD_CTX_free(context);
    counts.jwt_verifications++;
    return valid;
}

// Splits a JWT, verifies its signature and hands back its header and claims as text.
static int verify_jwt(const char *jwt, size_t length, EVP_PKEY *key, int es256, char *header, char *claims, size_t capacity) {
    const char *first = memchr(jwt, '.', length);
    if (!first) return 0;
    const char *second = memchr(first + 1, '.', length - (size_t)(first + 1 - jwt));
    if (!second) return 0;
    int header_length = base64url_decode(jwt, (size_t)(first - jwt), (unsigned char *)header, capacity - 1);
    int claims_length = base64url_decode(first + 1, (size_t)(second - first - 1), (unsigned char *)claims, capacity - 1);
    unsigned char signature[512];
    int signature_length = base64url_decode(second + 1, length - (size_t)(second + 1 - jwt), signature, sizeof signature);
    if (header_length < 0 || claims_length < 0 || signature_length < 0) return 0;
    header[header_length] = 0;
    claims[claims_length] = 0;
    return verify_signature(key, (const unsigned char *)jwt, (size_t)(second - jwt), signature, (size_t)signature_length, es256);
}

// Provider tokens already verified, with their iat: Apple checks a token once, not per request.
#define VERIFIED_SLOTS 8
static struct {
    char text[1024];
    long long issued_at;
} verified[VERIFIED_SLOTS];
static int next_verified;

// 0 when the APNs bearer token is good; otherwise the status, with the reason in *reason.
static int check_provider_token(const char *authorization, const char **reason) {
    if (strncmp(authorization, "bearer ", 7) != 0) {
        *reason = "MissingProviderToken";
        return 403;
    }
    const char *jwt = authorization + 7;
    long long issued_at = -1;
    for (int i = 0; i < VERIFIED_SLOTS; i++) {
        if (verified[i].text[0] && strcmp(verified[i].text, jwt) == 0) issued_at = verified[i].issued_at;
    }
    if (issued_at < 0) {
        char header[512], claims[512];
        char found[64];
        if (!verify_jwt(jwt, strlen(jwt), apns_public_key, 1, header, claims, sizeof header)) goto invalid;
        if (!json_string(header, "alg", found, sizeof found) || strcmp(found, "ES256") != 0) goto invalid;
        if (!json_string(header, "kid", found, sizeof found) || strcmp(found, options.key_id) != 0) goto invalid;
        if (!json_string(claims, "iss", found, sizeof found) || strcmp(found, options.team_id) != 0) goto invalid;
        if (!json_integer(claims, "iat", &issued_at)) goto invalid;
        if (strlen(jwt) < sizeof verified[0].text) {
            snprintf(verified[next_verified].text, sizeof verified[0].text, "%s", jwt);
            verified[next_verified].issued_at = issued_at;
            next_verified = (next_verified + 1) % VERIFIED_SLOTS;
        }
    }
    if ((long long)time(NULL) - issued_at > 3600) {
        *reason = "ExpiredProviderToken";
        return 403;
    }
    return 0;
invalid:
    *reason = "InvalidProviderToken";
    return 403;
}

// Access tokens issued by /token.
#define ISSUED_SLOTS 16
static char issued[ISSUED_SLOTS][64];
static int next_issued;

// MARK: Connections and streams

typedef struct stream {
    struct stream *next_free;
    int32_t id;
    char method[8], path[256], authorization[1024], topic[128], push_type[24], priority[8], expiration[24], apns_id[48];
    char collapse_id[80], content_type[64];
    unsigned char body[8192];
    size_t body_length;
    int body_too_large;
    // The answer, kept until the stream closes (nghttp2 reads the body from here).
    char response[512];
    size_t response_length, response_sent;
} stream;

typedef struct connection {
    int fd;
    SSL *tls;
    nghttp2_session *session;
    int handshaken;
    unsigned char *out;
    size_t out_length, out_capacity;
    int wants_write;
    // Answers held back by --delay-ms, oldest first (every delay is the same, so due times only grow).
    struct delayed {
        int32_t stream_id;
        unsigned long long due;
    } *delayed;
    size_t delayed_head, delayed_count, delayed_capacity;
    struct connection *next_delayed;
} connection;

static int epoll_fd;
static SSL_CTX *tls_context;

static void close_connection(connection *c) {
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->session) nghttp2_session_del(c->session);
    SSL_free(c->tls);
    close(c->fd);
    free(c->out);
    free(c->delayed);
    c->fd = -1;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *buffer, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *user_data) {
    (void)session; (void)stream_id; (void)user_data;
    stream *s = source->ptr;
    size_t left = s->response_length - s->response_sent;
    size_t n = left < length ? left : length;
    memcpy(buffer, s->response + s->response_sent, n);
    s->response_sent += n;
    if (s->response_sent == s->response_length) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define HEADER(name, value) {(uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value), NGHTTP2_NV_FLAG_NONE}

static void respond(nghttp2_session *session, stream *s, int status, const char *extra_name, const char *extra_value) {
    char status_text[8];
    snprintf(status_text, sizeof status_text, "%d", status);
    nghttp2_nv headers[4];
    size_t count = 0;
    headers[count++] = (nghttp2_nv)HEADER(":status", status_text);
    if (extra_name) {
        headers[count++] = (nghttp2_nv){(uint8_t *)extra_name, (uint8_t *)extra_value, strlen(extra_name), strlen(extra_value), NGHTTP2_NV_FLAG_NONE};
    }
    if (s->response_length > 0) headers[count++] = (nghttp2_nv)HEADER("content-type", "application/json");
    nghttp2_data_provider provider = {.source.ptr = s, .read_callback = read_body};
    nghttp2_submit_response(session, s->id, headers, count, s->response_length > 0 ? &provider : NULL);
}

static void answer_apns(nghttp2_session *session, stream *s) {
    counts.apns_requests++;
    const char *token = s->path + strlen("/3/device/");
    size_t token_length = strlen(token);
    const char *reason = NULL;
    int status = 0;
    int voip = strcmp(s->push_type, "voip") == 0;
    char voip_topic[160];
    snprintf(voip_topic, sizeof voip_topic, "%s.voip", options.topic ? options.topic : "");
    if (strcmp(s->method, "POST") != 0) status = 405, reason = "MethodNotAllowed";
    else if (!all_hex(token, token_length)) status = 400, reason = "BadDeviceToken";
    else if (!s->topic[0]) status = 400, reason = "MissingTopic";
    else if (options.topic && strcmp(s->topic, voip ? voip_topic : options.topic) != 0) status = 400, reason = "TopicDisallowed";
    else if (strcmp(s->push_type, "alert") != 0 && strcmp(s->push_type, "background") != 0 && !voip) status = 400, reason = "InvalidPushType";
    else if (s->priority[0] && strcmp(s->priority, "10") != 0 && strcmp(s->priority, "5") != 0 && strcmp(s->priority, "1") != 0) status = 400, reason = "BadPriority";
    else if (strcmp(s->push_type, "background") == 0 && s->priority[0] && strcmp(s->priority, "5") != 0) status = 400, reason = "BadPriority";
    else if (s->expiration[0] && strspn(s->expiration, "0123456789") != strlen(s->expiration)) status = 400, reason = "BadExpirationDate";
    else if (strlen(s->collapse_id) > 64) status = 400, reason = "BadCollapseId";
    else if (s->apns_id[0] && (strlen(s->apns_id) != 36 || s->apns_id[8] != '-' || s->apns_id[13] != '-')) status = 400, reason = "BadMessageId";
    else if (s->body_length == 0) status = 400, reason = "PayloadEmpty";
    else if (s->body_too_large || s->body_length > (voip ? 5120u : 4096u)) status = 413, reason = "PayloadTooLarge";
    else if (!looks_like_json_object(s->body, s->body_length) || !memmem(s->body, s->body_length, "\"aps\":{", 7)) status = 400, reason = "BadPayload";
    else status = check_provider_token(s->authorization, &reason);

    if (status != 0) {
        counts.malformed++;
        counts.apns_refused++;
    } else if (strncmp(token, options.dead_prefix, strlen(options.dead_prefix)) == 0) {
        status = 410, reason = "Unregistered";
        counts.apns_refused++;
    } else {
        status = 200;
        counts.apns_accepted++;
        counts.apns_token_sum += token_index(token, token_length);
        if (strcmp(s->push_type, "alert") == 0) counts.apns_alert++;
        else counts.apns_background++;
    }
    if (reason) {
        s->response_length = (size_t)snprintf(s->response, sizeof s->response, status == 410 ? "{\"reason\":\"%s\",\"timestamp\":%lld}" : "{\"reason\":\"%s\"}",
                                              reason, (long long)time(NULL) * 1000);
    }
    respond(session, s, status, "apns-id", s->apns_id[0] ? s->apns_id : "00000000-0000-0000-0000-000000000000");
}

static void answer_token(nghttp2_session *session, stream *s) {
    counts.token_requests++;
    char body[4096], assertion[2048] = "", header[1024], claims[1024], found[256];
    size_t length = s->body_length < sizeof body - 1 ? s->body_length : sizeof body - 1;
    memcpy(body, s->body, length);
    body[length] = 0;
    const char *grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
    const char *start = strstr(body, "assertion=");
    if (start) {
        start += strlen("assertion=");
        size_t n = strcspn(start, "&");
        if (n < sizeof assertion) memcpy(assertion, start, n), assertion[n] = 0;
    }
    long long iat, exp;
    int good = strcmp(s->content_type, "application/x-www-form-urlencoded") == 0 && strstr(body, grant) && assertion[0]
        && verify_jwt(assertion, strlen(assertion), fcm_public_key, 0, header, claims, sizeof header)
        && json_string(header, "alg", found, sizeof found) && strcmp(found, "RS256") == 0
        && json_string(claims, "scope", found, sizeof found) && strcmp(found, "https://www.googleapis.com/auth/firebase.messaging") == 0
        && json_string(claims, "aud", found, sizeof found) && strcmp(found, fcm_audience) == 0
        && json_string(claims, "iss", found, sizeof found)
        && json_integer(claims, "iat", &iat) && json_integer(claims, "exp", &exp) && exp > iat && exp - iat <= 3600 && exp > (long long)time(NULL);
    if (!good) {
        counts.malformed++;
        s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"error\":\"invalid_grant\"}");
        return respond(session, s, 400, NULL, NULL);
    }
    char *token = issued[next_issued];
    snprintf(token, sizeof issued[0], "ya29.bench-%llu-%08x", counts.token_requests, (unsigned)random());
    next_issued = (next_issued + 1) % ISSUED_SLOTS;
    s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"access_token\":\"%s\",\"expires_in\":3600,\"token_type\":\"Bearer\"}", token);
    respond(session, s, 200, NULL, NULL);
}

static void answer_fcm(nghttp2_session *session, stream *s) {
    counts.fcm_requests++;
    int authorized = 0;
    if (strncmp(s->authorization, "Bearer ", 7) == 0) {
        for (int i = 0; i < ISSUED_SLOTS; i++) if (issued[i][0] && strcmp(issued[i], s->authorization + 7) == 0) authorized = 1;
    }
    char body[8193], token[512];
    memcpy(body, s->body, s->body_length);
    body[s->body_length] = 0;
    if (!authorized) {
        counts.malformed++;
        counts.fcm_refused++;
        s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"error\":{\"code\":401,\"status\":\"UNAUTHENTICATED\"}}");
        return respond(session, s, 401, NULL, NULL);
    }
    if (!looks_like_json_object(s->body, s->body_length) || strncmp(body, "{\"message\":{", 12) != 0 || !json_string(body, "token", token, sizeof token)) {
        counts.malformed++;
        counts.fcm_refused++;
        s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"error\":{\"code\":400,\"status\":\"INVALID_ARGUMENT\"}}");
        return respond(session, s, 400, NULL, NULL);
    }
    if (strncmp(token, options.dead_prefix, strlen(options.dead_prefix)) == 0) {
        counts.fcm_refused++;
        s->response_length = (size_t)snprintf(s->response, sizeof s->response,
            "{\"error\":{\"code\":404,\"message\":\"Requested entity was not found.\",\"status\":\"NOT_FOUND\",\"details\":"
            "[{\"@type\":\"type.googleapis.com/google.firebase.fcm.v1.FcmError\",\"errorCode\":\"UNREGISTERED\"}]}}");
        return respond(session, s, 404, NULL, NULL);
    }
    counts.fcm_accepted++;
    counts.fcm_token_sum += token_index(token, strlen(token));
    s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"name\":\"projects/%s/messages/%llu\"}", fcm_project, counts.fcm_accepted);
    respond(session, s, 200, NULL, NULL);
}

static char fcm_path[256];

static void answer(nghttp2_session *session, stream *s) {
    if (strncmp(s->path, "/3/device/", 10) == 0) answer_apns(session, s);
    else if (strcmp(s->path, "/token") == 0 && fcm_public_key) answer_token(session, s);
    else if (strcmp(s->path, fcm_path) == 0) answer_fcm(session, s);
    else {
        counts.malformed++;
        s->response_length = (size_t)snprintf(s->response, sizeof s->response, "{\"reason\":\"BadPath\"}");
        respond(session, s, 404, NULL, NULL);
    }
}

static void hold(connection *c, int32_t stream_id);

static void request_complete(connection *c, int32_t stream_id) {
    if (options.delay_ms > 0) return hold(c, stream_id);
    stream *s = nghttp2_session_get_stream_user_data(c->session, stream_id);
    if (s) answer(c->session, s);
}

// MARK: nghttp2 callbacks

// Streams are reused: zeroing a whole one (bodies included) for every request was a visible cost.
static stream *free_streams;

static stream *new_stream(int32_t id) {
    stream *s = free_streams;
    if (s) free_streams = s->next_free;
    else s = malloc(sizeof(stream));
    memset(s, 0, offsetof(stream, body));
    s->id = id;
    s->body_length = 0;
    s->body_too_large = 0;
    s->response_length = 0;
    s->response_sent = 0;
    return s;
}

static void free_stream(stream *s) {
    if (!s) return;
    s->next_free = free_streams;
    free_streams = s;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    stream *s = new_stream(frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
    return 0;
}

static void copy_value(char *destination, size_t capacity, const uint8_t *value, size_t length) {
    size_t n = length < capacity - 1 ? length : capacity - 1;
    memcpy(destination, value, n);
    destination[n] = 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t name_length, const uint8_t *value,
                     size_t value_length, uint8_t flags, void *user_data) {
    (void)flags; (void)user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s) return 0;
#define FIELD(text, field) if (name_length == sizeof(text) - 1 && memcmp(name, text, name_length) == 0) copy_value(s->field, sizeof s->field, value, value_length)
    FIELD(":method", method);
    else FIELD(":path", path);
    else FIELD("authorization", authorization);
    else FIELD("apns-topic", topic);
    else FIELD("apns-push-type", push_type);
    else FIELD("apns-priority", priority);
    else FIELD("apns-expiration", expiration);
    else FIELD("apns-id", apns_id);
    else FIELD("apns-collapse-id", collapse_id);
    else FIELD("content-type", content_type);
#undef FIELD
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t length, void *user_data) {
    (void)flags; (void)user_data;
    stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s) return 0;
    if (s->body_length + length > sizeof s->body) {
        s->body_too_large = 1;
        return 0;
    }
    memcpy(s->body + s->body_length, data, length);
    s->body_length += length;
    return 0;
}

static int on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)session;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        request_complete(user_data, frame->hd.stream_id);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
    (void)error_code; (void)user_data;
    free_stream(nghttp2_session_get_stream_user_data(session, stream_id));
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    return 0;
}

// MARK: Delayed answers

static connection *delayed_connections;

static void hold(connection *c, int32_t stream_id) {
    if (c->delayed_count == c->delayed_capacity) {
        size_t capacity = c->delayed_capacity ? c->delayed_capacity * 2 : 1024;
        struct delayed *grown = malloc(capacity * sizeof *grown);
        for (size_t i = 0; i < c->delayed_count; i++) grown[i] = c->delayed[(c->delayed_head + i) % c->delayed_capacity];
        free(c->delayed);
        c->delayed = grown;
        c->delayed_head = 0;
        c->delayed_capacity = capacity;
    }
    c->delayed[(c->delayed_head + c->delayed_count) % c->delayed_capacity] = (struct delayed){stream_id, now_ms() + (unsigned long long)options.delay_ms};
    if (c->delayed_count++ == 0) {
        c->next_delayed = delayed_connections;
        delayed_connections = c;
    }
}

static void flush_output(connection *c);

// Answers what is due; returns the milliseconds until the next answer is (or -1 for none).
static int answer_due(void) {
    unsigned long long now = now_ms();
    int wait = -1;
    connection **link = &delayed_connections;
    while (*link) {
        connection *c = *link;
        while (c->delayed_count > 0 && c->fd >= 0) {
            struct delayed next = c->delayed[c->delayed_head];
            if (next.due > now) break;
            c->delayed_head = (c->delayed_head + 1) % c->delayed_capacity;
            c->delayed_count--;
            stream *s = nghttp2_session_get_stream_user_data(c->session, next.stream_id);
            if (s) answer(c->session, s);
        }
        if (c->fd >= 0) flush_output(c);
        if (c->delayed_count == 0 || c->fd < 0) {
            *link = c->next_delayed;
            if (c->fd < 0) free(c);
            continue;
        }
        int until = (int)(c->delayed[c->delayed_head].due - now);
        if (wait < 0 || until < wait) wait = until;
        link = &c->next_delayed;
    }
    return wait;
}

// MARK: I/O

static void want_write(connection *c, int enable) {
    if (c->wants_write == enable) return;
    c->wants_write = enable;
    struct epoll_event event = {.events = EPOLLIN | (enable ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &event);
}

// Everything nghttp2 has to send, gathered into one buffer and written through TLS in large records.
static void flush_output(connection *c) {
    if (c->handshaken) {
        for (;;) {
            const uint8_t *data;
            ssize_t length = nghttp2_session_mem_send(c->session, &data);
            if (length <= 0) break;
            if (c->out_length + (size_t)length > c->out_capacity) {
                c->out_capacity = (c->out_length + (size_t)length) * 2;
                c->out = realloc(c->out, c->out_capacity);
            }
            memcpy(c->out + c->out_length, data, (size_t)length);
            c->out_length += (size_t)length;
        }
    }
    size_t sent = 0;
    while (sent < c->out_length) {
        int n = SSL_write(c->tls, c->out + sent, (int)(c->out_length - sent));
        if (n <= 0) {
            int error = SSL_get_error(c->tls, n);
            if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) break;
            close_connection(c);
            return;
        }
        sent += (size_t)n;
    }
    memmove(c->out, c->out + sent, c->out_length - sent);
    c->out_length -= sent;
    want_write(c, c->out_length > 0);
}

static void start_session(connection *c) {
    const unsigned char *protocol = NULL;
    unsigned int protocol_length = 0;
    SSL_get0_alpn_selected(c->tls, &protocol, &protocol_length);
    if (protocol_length != 2 || memcmp(protocol, "h2", 2) != 0) {
        close_connection(c);
        return;
    }
    nghttp2_session_callbacks *callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_session_server_new(&c->session, callbacks, c);
    nghttp2_session_callbacks_del(callbacks);
    // As APNs: at most 1,000 streams at once. Receive windows as large front ends keep them (1 MiB a
    // stream, 16 MiB the connection) rather than nghttp2's 64 KiB: with a thousand request bodies in
    // flight, a 64 KiB connection window held the client's DATA frames back and released them out of
    // order, which no vendor this benchmark stands for would impose.
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 3);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 16 << 20);
    c->handshaken = 1;
}

static void readable(connection *c) {
    if (!c->handshaken) {
        int result = SSL_accept(c->tls);
        if (result <= 0) {
            int error = SSL_get_error(c->tls, result);
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
            close_connection(c);
            return;
        }
        start_session(c);
        if (c->fd < 0) return;
    }
    static unsigned char buffer[262144];
    for (;;) {
        int n = SSL_read(c->tls, buffer, sizeof buffer);
        if (n <= 0) {
            int error = SSL_get_error(c->tls, n);
            if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
            close_connection(c);
            return;
        }
        if (nghttp2_session_mem_recv(c->session, buffer, (size_t)n) < 0) {
            close_connection(c);
            return;
        }
        // Nothing read ahead is left: epoll (level-triggered) says when the socket has more, and another
        // read now would most likely only return EAGAIN.
        if (!SSL_has_pending(c->tls)) break;
    }
    flush_output(c);
    if (c->fd >= 0 && !nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session)) close_connection(c);
}

static int select_protocol(SSL *tls, const unsigned char **out, unsigned char *out_length, const unsigned char *in, unsigned int in_length, void *arg) {
    (void)tls; (void)arg;
    static const unsigned char h2[] = {2, 'h', '2'};
    if (SSL_select_next_proto((unsigned char **)out, out_length, h2, sizeof h2, in, in_length) != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK;
}

// MARK: Setup

static EVP_PKEY *read_private_key(const char *pem, size_t length) {
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

static char *read_file(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file) die("cannot read %s", path);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    *length = fread(text, 1, (size_t)size, file);
    text[*length] = 0;
    fclose(file);
    return text;
}

// The service account's key (a PEM inside a JSON string, with \n escapes) and its project.
static void read_service_account(const char *path) {
    size_t length;
    char *json = read_file(path, &length);
    char *pem = malloc(length + 1);
    const char *start = strstr(json, "\"private_key\"");
    if (!start || !(start = strchr(start + 13, '"'))) die("%s has no private_key", path);
    start++;
    size_t n = 0;
    for (const char *p = start; *p && *p != '"'; p++) {
        if (p[0] == '\\' && p[1] == 'n') pem[n++] = '\n', p++;
        else pem[n++] = *p;
    }
    fcm_public_key = read_private_key(pem, n);
    if (!fcm_public_key) die("cannot read the key in %s", path);
    const char *project = strstr(json, "\"project_id\"");
    if (!project || !(project = strchr(project + 12, '"'))) die("%s has no project_id", path);
    project++;
    size_t project_length = strcspn(project, "\"");
    if (project_length >= sizeof fcm_project) die("project_id too long");
    memcpy(fcm_project, project, project_length);
    free(pem);
    free(json);
}

// Written to a temporary file and renamed, so that a reader never sees half of it.
static void write_stats(void) {
    if (!options.stats_file) return;
    char temporary[4096];
    snprintf(temporary, sizeof temporary, "%s.tmp", options.stats_file);
    FILE *file = fopen(temporary, "w");
    if (!file) return;
    fprintf(file,
            "{\"apns_requests\":%llu,\"apns_accepted\":%llu,\"apns_refused\":%llu,\"apns_alert\":%llu,\"apns_background\":%llu,"
            "\"apns_token_sum\":%llu,\"fcm_requests\":%llu,\"fcm_accepted\":%llu,\"fcm_refused\":%llu,\"fcm_token_sum\":%llu,"
            "\"token_requests\":%llu,\"malformed\":%llu,\"jwt_verifications\":%llu,\"connections\":%llu}\n",
            counts.apns_requests, counts.apns_accepted, counts.apns_refused, counts.apns_alert, counts.apns_background, counts.apns_token_sum,
            counts.fcm_requests, counts.fcm_accepted, counts.fcm_refused, counts.fcm_token_sum, counts.token_requests, counts.malformed,
            counts.jwt_verifications, counts.connections);
    fclose(file);
    rename(temporary, options.stats_file);
}

static void usage(void) {
    fprintf(stderr,
            "usage: herald-bench-vendor --cert PEM --key PEM --apns-key P8 [--key-id ID] [--team-id ID] [--topic TOPIC]\n"
            "       [--fcm-service-account JSON] [--dead-prefix PREFIX] [--delay-ms N] [--port N] [--port-file F] [--stats-file F]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (i + 1 >= argc) usage();
        const char *value = argv[++i];
        if (!strcmp(name, "--port-file")) options.port_file = value;
        else if (!strcmp(name, "--stats-file")) options.stats_file = value;
        else if (!strcmp(name, "--cert")) options.cert = value;
        else if (!strcmp(name, "--key")) options.key = value;
        else if (!strcmp(name, "--apns-key")) options.apns_key = value;
        else if (!strcmp(name, "--key-id")) options.key_id = value;
        else if (!strcmp(name, "--team-id")) options.team_id = value;
        else if (!strcmp(name, "--topic")) options.topic = value;
        else if (!strcmp(name, "--fcm-service-account")) options.service_account = value;
        else if (!strcmp(name, "--dead-prefix")) options.dead_prefix = value;
        else if (!strcmp(name, "--delay-ms")) options.delay_ms = atoi(value);
        else if (!strcmp(name, "--port")) options.port = atoi(value);
        else usage();
    }
    if (!options.cert || !options.key || !options.apns_key) usage();
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)getpid());

    size_t length;
    char *pem = read_file(options.apns_key, &length);
    apns_public_key = read_private_key(pem, length);
    if (!apns_public_key) die("cannot read the APNs key %s", options.apns_key);
    free(pem);
    if (options.service_account) read_service_account(options.service_account);

    tls_context = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(tls_context, TLS1_2_VERSION);
    SSL_CTX_set_options(tls_context, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(tls_context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(tls_context, options.cert) != 1) die("cannot read %s", options.cert);
    if (SSL_CTX_use_PrivateKey_file(tls_context, options.key, SSL_FILETYPE_PEM) != 1) die("cannot read %s", options.key);
    SSL_CTX_set_alpn_select_cb(tls_context, select_protocol, NULL);
    // Read whatever the socket holds in one system call, not a record at a time.
    SSL_CTX_set_read_ahead(tls_context, 1);
    SSL_CTX_set_default_read_buffer_len(tls_context, 256 * 1024);

    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)options.port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 256) != 0) die("cannot listen: %s", strerror(errno));
    socklen_t address_length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &address_length);
    listen_port = ntohs(address.sin_port);
    snprintf(fcm_audience, sizeof fcm_audience, "https://127.0.0.1:%d/token", listen_port);
    snprintf(fcm_path, sizeof fcm_path, "/v1/projects/%s/messages:send", fcm_project);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGUSR1);
    sigprocmask(SIG_BLOCK, &signals, NULL);
    int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    int listener_tag = -1, signal_tag = -2;
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = &listener_tag};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
    event.data.ptr = &signal_tag;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &event);

    if (options.port_file) {
        char temporary[4096];
        snprintf(temporary, sizeof temporary, "%s.tmp", options.port_file);
        FILE *file = fopen(temporary, "w");
        if (!file) die("cannot write %s", options.port_file);
        fprintf(file, "%d", listen_port);
        fclose(file);
        rename(temporary, options.port_file);
    }
    printf("bench vendor https://127.0.0.1:%d (APNs /3/device/, FCM /v1/projects/%s/messages:send, /token)\n", listen_port, fcm_project);
    fflush(stdout);

    struct epoll_event events[64];
    for (;;) {
        int timeout = delayed_connections ? answer_due() : -1;
        int ready = epoll_wait(epoll_fd, events, 64, timeout);
        if (ready < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < ready; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &signal_tag) {
                struct signalfd_siginfo received;
                int stop = 0;
                while (read(signal_fd, &received, sizeof received) == sizeof received) stop |= received.ssi_signo != SIGUSR1;
                write_stats();
                if (stop) return 0;
                continue;
            }
            if (tag == &listener_tag) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    connection *c = calloc(1, sizeof(connection));
                    c->fd = fd;
                    c->tls = SSL_new(tls_context);
                    SSL_set_fd(c->tls, fd);
                    counts.connections++;
                    struct epoll_event added = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &added);
                }
                continue;
            }
            connection *c = tag;
            if (c->fd < 0) continue;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable(c);
            if (c->fd >= 0 && (events[i].events & EPOLLOUT)) flush_output(c);
            // A closed connection is freed here unless delayed answers still name it (answer_due frees those).
            if (c->fd < 0 && c->delayed_count == 0) free(c);
        }
    }
}
