/* The floor of an HTTP or TCP health probe: about the least a process can do and still
 * answer. Connects to an IPv4 literal, sends one GET, reads the status line and exits
 * 0 for 2xx/3xx, 1 otherwise. No resolver, no redirects, no output, no deadline beyond a
 * 2 s receive timeout. bench/run.sh builds it with `gcc -static -O2`.
 * Usage: floor http://IP:PORT/PATH | floor tcp://IP:PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Appends text to the request at *end, if it fits before limit. */
static int append(char **end, const char *limit, const char *text, size_t length) {
    if (length > (size_t)(limit - *end)) return 0;
    memcpy(*end, text, length);
    *end += length;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 64;
    const char *authority = argv[1];
    int http;
    if (strncmp(authority, "http://", 7) == 0) {
        http = 1;
        authority += 7;
    } else if (strncmp(authority, "tcp://", 6) == 0) {
        http = 0;
        authority += 6;
    } else {
        return 64;
    }
    const char *colon = strchr(authority, ':');
    const char *path = strchr(authority, '/');
    if (!path) path = authority + strlen(authority);
    char host[64];
    if (!colon || colon > path || colon - authority >= (long)sizeof host) return 64;
    memcpy(host, authority, colon - authority);
    host[colon - authority] = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) return 64;

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 1;
    if (!http) return close(fd) == 0 ? 0 : 1;

    char request[1024];
    char *end = request;
    const char *limit = request + sizeof request;
    const char *target = *path ? path : "/";
    if (!(append(&end, limit, "GET ", 4) && append(&end, limit, target, strlen(target)) &&
          append(&end, limit, " HTTP/1.1\r\nHost: ", 17) &&
          append(&end, limit, authority, path - authority) &&
          append(&end, limit, "\r\nConnection: close\r\n\r\n", 23)))
        return 64;
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (send(fd, request, end - request, MSG_NOSIGNAL) != end - request) return 1;

    /* "HTTP/1.1 200" is all it takes. */
    char status[256];
    size_t have = 0;
    while (have < 12) {
        ssize_t got = recv(fd, status + have, sizeof status - have, 0);
        if (got <= 0) return 1;
        have += got;
    }
    close(fd);
    if (memcmp(status, "HTTP/1.", 7) != 0) return 1;
    return status[9] == '2' || status[9] == '3' ? 0 : 1;
}
