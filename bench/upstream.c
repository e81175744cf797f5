/*
 * Fake upstream in C (epoll, one thread): a few microseconds per request, so it never is the bottleneck.
 * It answers POST /v1/chat/completions, /v1/responses and /v1/messages with bench/answers.ts's
 * bytes (the harness checks that they match). Why: docs/benchmarks.md and BENCHMARKS.md.
 * Usage: upstream PORT   (PORT 0 = any; prints "ready <port>" once listening)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNKS 20
#define MAXEVENTS (CHUNKS + 8)
#define INBUF 65536
#define MAXFD 65536

typedef struct {
  char *p;
  int n;
} bytes;

/* One API's answers: whole, and as a stream of events (the last one ends the chunked body). */
typedef struct {
  const char *path;
  bytes line; /* " <path> ", as the request line has it */
  bytes whole;
  bytes events[MAXEVENTS];
  int nevents;
  int usageEvent; /* sent only when the request asks for usage (chat's include_usage), or -1 */
} api;

typedef struct conn {
  int fd;
  const api *api; /* of the open stream */
  char in[INBUF + 1];
  int inlen;
  char *out; /* unsent bytes (backpressure) */
  int outlen, outcap;
  int ev;        /* next stream event, -1 when no stream is open */
  int withUsage; /* stream wants the usage chunk */
  struct conn *next, *prev; /* list of open streams */
} conn;

static int ep;
static conn *conns[MAXFD];
static conn streams; /* sentinel of the open-stream list */
static bytes sseHead;
enum { CHAT, RESPONSES, MESSAGES, NAPIS };
static api apis[NAPIS];

static bytes fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static bytes fmt(const char *f, ...) {
  bytes b;
  va_list ap;
  va_start(ap, f);
  b.n = vasprintf(&b.p, f, ap);
  va_end(ap);
  return b;
}

static bytes chunked(bytes data) {
  bytes b = fmt("%x\r\n%s\r\n", data.n, data.p);
  free(data.p);
  return b;
}

static bytes jsonAnswer(bytes body) {
  bytes b = fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-request-id: upstream-bench\r\nContent-Length: %d\r\n\r\n%s", body.n, body.p);
  free(body.p);
  return b;
}

/* Adds an event; the stream's last one also carries the chunked body's end. */
static void push(api *a, bytes data) { a->events[a->nevents++] = chunked(data); }
static void finish(api *a) {
  bytes *last = &a->events[a->nevents - 1];
  bytes b = fmt("%s0\r\n\r\n", last->p);
  free(last->p);
  *last = b;
}

#define WORD(i) ((i) ? " word" : "word")
#define CHAT_USAGE "{\"prompt_tokens\":24,\"completion_tokens\":%d,\"total_tokens\":%d,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}"
#define CHUNK "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\n\n"

static void buildChat(api *a, const char *text) {
  bytes usage = fmt(CHAT_USAGE, CHUNKS, 24 + CHUNKS);
  a->path = "/v1/chat/completions";
  a->whole = jsonAnswer(fmt(
      "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1735689600,\"model\":\"bench-model\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"%s\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":%s,\"system_fingerprint\":\"fp_bench\"}",
      text, usage.p));
  push(a, fmt(CHUNK, "{\"role\":\"assistant\",\"content\":\"\"}", "null"));
  for (int i = 0; i < CHUNKS; i++) push(a, fmt(CHUNK, i ? "{\"content\":\" word\"}" : "{\"content\":\"word\"}", "null"));
  push(a, fmt(CHUNK, "{}", "\"stop\""));
  a->usageEvent = a->nevents;
  push(a, fmt("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1735689600,\"model\":\"bench-model\",\"choices\":[],\"usage\":%s}\n\n", usage.p));
  push(a, fmt("data: [DONE]\n\n"));
  finish(a);
}

#define RESP_HEAD "\"id\":\"resp_bench\",\"object\":\"response\",\"created_at\":1735689600,\"model\":\"bench-model\""
#define RESP_USAGE "{\"input_tokens\":24,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":%d,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":%d}"
#define PART "{\"type\":\"output_text\",\"text\":\"%s\",\"annotations\":[]}"
#define AT "\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0"
#define NAMED "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%d,%s}\n\n"

static void buildResponses(api *a, const char *text) {
  bytes usage = fmt(RESP_USAGE, CHUNKS, 24 + CHUNKS);
  bytes part = fmt(PART, text);
  bytes message = fmt("{\"type\":\"message\",\"id\":\"msg_bench\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[%s]}", part.p);
  bytes done = fmt("{" RESP_HEAD ",\"status\":\"completed\",\"output\":[%s],\"usage\":%s}", message.p, usage.p);
  const char *started = "\"response\":{" RESP_HEAD ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}";
  int seq = 0;
  a->path = "/v1/responses";
  a->usageEvent = -1;
  a->whole = jsonAnswer(fmt("%s", done.p));
  push(a, fmt(NAMED, "response.created", "response.created", seq++, started));
  push(a, fmt(NAMED, "response.in_progress", "response.in_progress", seq++, started));
  push(a, fmt(NAMED, "response.output_item.added", "response.output_item.added", seq++,
              "\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_bench\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}"));
  push(a, fmt(NAMED, "response.content_part.added", "response.content_part.added", seq++, AT ",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}"));
  for (int i = 0; i < CHUNKS; i++) {
    bytes d = fmt(AT ",\"delta\":\"%s\"", WORD(i));
    push(a, fmt(NAMED, "response.output_text.delta", "response.output_text.delta", seq++, d.p));
    free(d.p);
  }
  bytes t = fmt(AT ",\"text\":\"%s\"", text), p = fmt(AT ",\"part\":%s", part.p), item = fmt("\"output_index\":0,\"item\":%s", message.p), r = fmt("\"response\":%s", done.p);
  push(a, fmt(NAMED, "response.output_text.done", "response.output_text.done", seq++, t.p));
  push(a, fmt(NAMED, "response.content_part.done", "response.content_part.done", seq++, p.p));
  push(a, fmt(NAMED, "response.output_item.done", "response.output_item.done", seq++, item.p));
  push(a, fmt(NAMED, "response.completed", "response.completed", seq++, r.p));
  finish(a);
}

#define MSG_INPUT "\"input_tokens\":24,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0"
#define EVENT "event: %s\ndata: {\"type\":\"%s\"%s}\n\n"

static void buildMessages(api *a, const char *text) {
  a->path = "/v1/messages";
  a->usageEvent = -1;
  a->whole = jsonAnswer(fmt(
      "{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench-model\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{" MSG_INPUT ",\"output_tokens\":%d}}",
      text, CHUNKS));
  push(a, fmt(EVENT, "message_start", "message_start",
              ",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"bench-model\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{" MSG_INPUT ",\"output_tokens\":1}}"));
  push(a, fmt(EVENT, "content_block_start", "content_block_start", ",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}"));
  push(a, fmt(EVENT, "ping", "ping", ""));
  for (int i = 0; i < CHUNKS; i++) {
    bytes d = fmt(",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}", WORD(i));
    push(a, fmt(EVENT, "content_block_delta", "content_block_delta", d.p));
    free(d.p);
  }
  push(a, fmt(EVENT, "content_block_stop", "content_block_stop", ",\"index\":0"));
  bytes md = fmt(",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}", CHUNKS);
  push(a, fmt(EVENT, "message_delta", "message_delta", md.p));
  push(a, fmt(EVENT, "message_stop", "message_stop", ""));
  finish(a);
}

/* Built once at start (the strings live as long as the process). */
static void build(void) {
  char text[16 * CHUNKS] = "";
  for (int i = 0; i < CHUNKS; i++) strcat(text, WORD(i));
  sseHead = fmt("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nx-request-id: upstream-bench\r\nTransfer-Encoding: chunked\r\n\r\n");
  buildChat(&apis[CHAT], text);
  buildResponses(&apis[RESPONSES], text);
  buildMessages(&apis[MESSAGES], text);
  for (int i = 0; i < NAPIS; i++) apis[i].line = fmt(" %s ", apis[i].path);
}

/* The API a request's line names (chat when none matches). */
static const api *route(const char *req, int n) {
  const char *eol = memchr(req, '\n', n);
  int line = eol ? (int)(eol - req) : n;
  for (int i = 1; i < NAPIS; i++)
    if (memmem(req, line, apis[i].line.p, apis[i].line.n)) return &apis[i];
  return &apis[CHAT];
}

static void closeConn(conn *c) {
  if (c->ev >= 0) {
    c->prev->next = c->next;
    c->next->prev = c->prev;
  }
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  conns[c->fd] = NULL;
  free(c->out);
  free(c);
}

/* Writes now, keeps what the socket did not take; returns -1 when the connection died. */
static int sendBytes(conn *c, const char *p, int n) {
  if (c->outlen == 0) {
    ssize_t w = write(c->fd, p, n);
    if (w < 0 && errno != EAGAIN) return -1;
    if (w > 0) p += w, n -= w;
    if (n == 0) return 0;
  }
  if (c->outlen + n > c->outcap) {
    c->outcap = (c->outlen + n) * 2;
    c->out = realloc(c->out, c->outcap);
  }
  memcpy(c->out + c->outlen, p, n);
  c->outlen += n;
  struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  return 0;
}

static int flushOut(conn *c) {
  ssize_t w = write(c->fd, c->out, c->outlen);
  if (w < 0) return errno == EAGAIN ? 0 : -1;
  memmove(c->out, c->out + w, c->outlen - w);
  c->outlen -= w;
  if (c->outlen == 0) {
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  }
  return 0;
}

static int has(const char *hay, int n, const char *needle) { return memmem(hay, n, needle, strlen(needle)) != NULL; }

/* Answers every complete request in the buffer (stops while a stream is open); -1 = close. */
static int serve(conn *c) {
  while (c->ev < 0) {
    char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!end) return c->inlen >= INBUF ? -1 : 0;
    int head = (int)(end - c->in) + 4, total = head;
    char *cl = strcasestr(c->in, "\ncontent-length:");
    if (cl && cl < end) {
      total += atoi(cl + 16);
    } else if (has(c->in, head, "hunked")) {
      char *fin = memmem(c->in + head, c->inlen - head, "0\r\n\r\n", 5);
      if (!fin) return c->inlen >= INBUF ? -1 : 0;
      total = (int)(fin - c->in) + 5;
    }
    if (total > INBUF) return -1;
    if (c->inlen < total) return 0;
    int stream = has(c->in + head, total - head, "\"stream\":true") || has(c->in + head, total - head, "\"stream\": true");
    const api *a = route(c->in, head);
    if (!stream) {
      if (sendBytes(c, a->whole.p, a->whole.n) < 0) return -1;
    } else {
      c->api = a;
      c->withUsage = has(c->in + head, total - head, "\"include_usage\":true") || has(c->in + head, total - head, "\"include_usage\": true");
      if (sendBytes(c, sseHead.p, sseHead.n) < 0) return -1;
      c->ev = 0;
      c->next = &streams;
      c->prev = streams.prev;
      streams.prev->next = c;
      streams.prev = c;
    }
    memmove(c->in, c->in + total, c->inlen - total);
    c->inlen -= total;
    c->in[c->inlen] = 0;
  }
  return 0;
}

/* One pass: the next event of every open stream that is not backpressured, so that, as from a
 * model server decoding a batch, each event leaves in its own write. */
static void pass(void) {
  conn *c = streams.next;
  while (c != &streams) {
    conn *next = c->next;
    if (c->outlen == 0) {
      const api *a = c->api;
      int e = c->ev;
      if (e == a->usageEvent && !c->withUsage) e++;
      if (sendBytes(c, a->events[e].p, a->events[e].n) < 0) {
        closeConn(c);
        c = next;
        continue;
      }
      c->ev = e + 1;
      if (c->ev == a->nevents) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->ev = -1;
        if (serve(c) < 0) closeConn(c);
      }
    }
    c = next;
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  build();
  streams.next = streams.prev = &streams;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(argc > 1 ? atoi(argv[1]) : 0)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0) {
    perror("listen");
    return 1;
  }
  socklen_t al = sizeof a;
  getsockname(ls, (struct sockaddr *)&a, &al);
  ep = epoll_create1(0);
  struct epoll_event le = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le);
  printf("ready %d\n", ntohs(a.sin_port));
  fflush(stdout);

  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, streams.next != &streams ? 0 : -1);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          if (fd >= MAXFD) {
            close(fd);
            continue;
          }
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          nc->ev = -1;
          conns[fd] = nc;
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      if ((evs[i].events & EPOLLOUT) && c->outlen > 0 && flushOut(c) < 0) {
        closeConn(c);
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = read(c->fd, c->in + c->inlen, INBUF - c->inlen);
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
          closeConn(c);
          continue;
        }
        if (r > 0) c->inlen += r;
        c->in[c->inlen] = 0;
        if (serve(c) < 0) closeConn(c);
      }
    }
    pass();
  }
}
