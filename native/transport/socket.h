// Thin, error-checked wrappers over POSIX TCP sockets. Every call that can wait takes a
// Deadline; every failure throws shoal::Error naming the address and the errno text.
#pragma once

#include <cstddef>
#include <string>

#include "common/deadline.h"

namespace shoal {
namespace transport {

// Listens on host:port (port 0 picks one). Returns the fd; *boundPort gets the real port.
int listenTcp(const std::string& host, int port, int* boundPort);
// Connects to host:port, retrying refused connections until the deadline (the peer may not
// be listening yet). Returns a non-blocking fd with TCP_NODELAY and large buffers.
int connectTcp(const std::string& host, int port, const Deadline& deadline);
// Accepts one queued connection without waiting; returns -1 if none is queued.
int tryAcceptTcp(int listenFd, std::string* peerAddr);
// Non-blocking, TCP_NODELAY, big socket buffers (sizes from SHOAL_SOCKET_BUFFER_BYTES).
void tuneSocket(int fd);
void setNonBlocking(int fd);
// Blocking-style helpers over non-blocking sockets for the handshake (small messages).
void writeAll(int fd, const void* data, size_t len, const Deadline& deadline, const char* what);
void readAll(int fd, void* data, size_t len, const Deadline& deadline, const char* what);
void closeFd(int& fd);
std::string errnoText(int err);

}  // namespace transport
}  // namespace shoal
