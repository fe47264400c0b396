#include "transport/socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/error.h"

namespace shoal {
namespace transport {

std::string errnoText(int err) { return std::string(std::strerror(err)); }

namespace {

sockaddr_storage resolve(const std::string& host, int port, socklen_t* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string portStr = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), portStr.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    throw Error(ErrorCode::kIo, "cannot resolve host '" + host + "': " + gai_strerror(rc));
  }
  sockaddr_storage out{};
  std::memcpy(&out, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return out;
}

int envInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  const int n = std::atoi(v);
  return n > 0 ? n : fallback;
}

}  // namespace

void setNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw Error(ErrorCode::kIo, "fcntl(O_NONBLOCK) failed: " + errnoText(errno));
  }
}

void tuneSocket(int fd) {
  setNonBlocking(fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Large buffers let a whole ring segment sit in the kernel while we reduce the last one.
  // Tests shrink them (SHOAL_SOCKET_BUFFER_BYTES) to force partial reads and writes.
  const int bytes = envInt("SHOAL_SOCKET_BUFFER_BYTES", 4 << 20);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

int listenTcp(const std::string& host, int port, int* boundPort) {
  socklen_t len = 0;
  sockaddr_storage addr = resolve(host, port, &len);
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(ErrorCode::kIo, "socket() failed: " + errnoText(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // Accepted sockets inherit buffer sizes from the listener; set them before listen().
  const int bytes = envInt("SHOAL_SOCKET_BUFFER_BYTES", 4 << 20);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    close(fd);
    throw Error(ErrorCode::kIo, "cannot listen on " + host + ":" + std::to_string(port) + ": " + errnoText(err));
  }
  if (listen(fd, 256) != 0) {
    const int err = errno;
    close(fd);
    throw Error(ErrorCode::kIo, "listen() failed: " + errnoText(err));
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &blen);
  *boundPort = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  setNonBlocking(fd);
  return fd;
}

int connectTcp(const std::string& host, int port, const Deadline& deadline) {
  socklen_t len = 0;
  sockaddr_storage addr = resolve(host, port, &len);
  int lastErr = 0;
  while (true) {
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(ErrorCode::kIo, "socket() failed: " + errnoText(errno));
    tuneSocket(fd);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), len);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      const int prc = poll(&p, 1, deadline.remainingMs(1000));
      if (prc > 0) {
        int err = 0;
        socklen_t elen = sizeof(err);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        rc = err == 0 ? 0 : -1;
        errno = err;
      } else {
        rc = -1;
        errno = prc == 0 ? ETIMEDOUT : errno;
      }
    }
    if (rc == 0) return fd;
    lastErr = errno;
    close(fd);
    if (deadline.expired()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw Error(ErrorCode::kTimeout,
              "could not connect to " + host + ":" + std::to_string(port) + " within " +
                  std::to_string(deadline.timeoutMs()) + " ms: " + errnoText(lastErr));
}

int tryAcceptTcp(int listenFd, std::string* peerAddr) {
  while (true) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = accept4(listenFd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd >= 0) {
      tuneSocket(fd);
      char buf[INET6_ADDRSTRLEN] = {0};
      if (addr.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof(buf));
      } else {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof(buf));
      }
      if (peerAddr) *peerAddr = buf;
      return fd;
    }
    // A connection reset while queued is not the listener's failure: try the next one.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    throw Error(ErrorCode::kIo, "accept() failed: " + errnoText(errno));
  }
}

void writeAll(int fd, const void* data, size_t len, const Deadline& deadline, const char* what) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      throw Error(ErrorCode::kIo, std::string(what) + ": send failed: " + errnoText(errno));
    }
    if (deadline.expired()) throw Error(ErrorCode::kTimeout, std::string(what) + ": timed out sending");
    pollfd pf{fd, POLLOUT, 0};
    poll(&pf, 1, deadline.remainingMs(200));
  }
}

void readAll(int fd, void* data, size_t len, const Deadline& deadline, const char* what) {
  char* p = static_cast<char*>(data);
  while (len > 0) {
    const ssize_t n = recv(fd, p, len, 0);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) throw Error(ErrorCode::kIo, std::string(what) + ": connection closed by peer");
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      throw Error(ErrorCode::kIo, std::string(what) + ": recv failed: " + errnoText(errno));
    }
    if (deadline.expired()) throw Error(ErrorCode::kTimeout, std::string(what) + ": timed out waiting for data");
    pollfd pf{fd, POLLIN, 0};
    poll(&pf, 1, deadline.remainingMs(200));
  }
}

void closeFd(int& fd) {
  if (fd >= 0) {
    close(fd);
    fd = -1;
  }
}

}  // namespace transport
}  // namespace shoal
